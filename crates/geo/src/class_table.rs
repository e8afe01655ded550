//! Tag -> class rules: which OSM/GeoJSON features become which label class, burned as areas
//! or as lines of a given width.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{ClassTableProblem, Error, Result};
use crate::vector::Tags;

/// A label class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassDef {
    /// Value written to the label raster (0-254; 255 is reserved for nodata).
    pub id: u8,
    /// Name shown in legends and reports.
    pub name: String,
    /// RGB colour of quicklooks.
    #[serde(default)]
    pub color: [u8; 3],
    /// Default full width in metres of lines burned into this class.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_width_m: Option<f64>,
}

/// How a rule burns the features it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BurnAs {
    /// Fill polygons (closed ways, multipolygons); open lines are skipped and reported.
    Area,
    /// Buffer polylines (and polygon outlines) by the rule's width.
    Line,
}

/// One rule: features whose tag `key` has one of `values` get class `class`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassRule {
    /// Class id to burn.
    pub class: u8,
    /// Tag key (`building`, `highway`, ...).
    pub key: String,
    /// Accepted values; empty or containing `"*"` accepts any value.
    #[serde(default)]
    pub values: Vec<String>,
    /// Values rejected even when `values` accepts any (`building=no`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub except: Vec<String>,
    /// Area or line.
    #[serde(rename = "as")]
    pub burn_as: BurnAs,
    /// Full line width in metres (overrides the class's `line_width_m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width_m: Option<f64>,
}

impl ClassRule {
    /// Whether `tags` satisfy this rule.
    pub fn matches(&self, tags: &Tags) -> bool {
        tags.get(&self.key).is_some_and(|v| {
            (self.values.is_empty() || self.values.iter().any(|a| a == "*" || a == v))
                && !self.except.iter().any(|e| e == v)
        })
    }
}

/// Classes and the ordered rules that map tags to them.
///
/// A feature takes the class of the **last** rule it matches, and features are burned in rule
/// order, so later rules win where features overlap. The defaults
/// ([`ClassTable::default`]) are, in order: vegetation areas, water areas, waterway lines,
/// road lines, buildings; so buildings overwrite roads, roads overwrite water (bridges) and
/// water overwrites vegetation.
///
/// # JSON
/// ```json
/// {
///   "classes": [{"id": 0, "name": "background", "color": [200, 200, 200]},
///               {"id": 1, "name": "building", "color": [220, 40, 40]}],
///   "rules": [{"class": 1, "key": "building", "values": ["*"], "except": ["no"], "as": "area"}]
/// }
/// ```
///
/// # Examples
/// ```
/// use chronomap_geo::ClassTable;
/// let t = ClassTable::default();
/// let tags = [("building".to_string(), "yes".to_string())].into_iter().collect();
/// assert_eq!(t.class_of(&tags).map(|(class, _)| class), Some(1));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassTable {
    /// The classes (0 is the background burned nowhere).
    pub classes: Vec<ClassDef>,
    /// Rules, later ones winning.
    pub rules: Vec<ClassRule>,
}

/// Background class id.
pub const BACKGROUND: u8 = 0;
/// Building class id in the default table.
pub const BUILDING: u8 = 1;
/// Road class id in the default table.
pub const ROAD: u8 = 2;
/// Water class id in the default table.
pub const WATER: u8 = 3;
/// Vegetation class id in the default table.
pub const VEGETATION: u8 = 4;
/// Label value for pixels without a label (outside the vector data's coverage).
pub const NODATA: u8 = 255;

fn rule(class: u8, key: &str, values: &[&str], burn_as: BurnAs, width_m: Option<f64>) -> ClassRule {
    ClassRule {
        class,
        key: key.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
        except: Vec::new(),
        burn_as,
        width_m,
    }
}

impl Default for ClassTable {
    /// 0 background, 1 building, 2 road, 3 water, 4 vegetation, with OSM rules.
    fn default() -> Self {
        use BurnAs::{Area, Line};
        let class = |id, name: &str, color, line_width_m| ClassDef {
            id,
            name: name.into(),
            color,
            line_width_m,
        };
        ClassTable {
            classes: vec![
                class(BACKGROUND, "background", [200, 200, 200], None),
                class(BUILDING, "building", [220, 40, 40], None),
                class(ROAD, "road", [250, 200, 40], Some(6.0)),
                class(WATER, "water", [40, 110, 220], Some(10.0)),
                class(VEGETATION, "vegetation", [50, 160, 60], None),
            ],
            rules: vec![
                rule(
                    VEGETATION,
                    "landuse",
                    &[
                        "forest",
                        "grass",
                        "meadow",
                        "farmland",
                        "orchard",
                        "vineyard",
                        "allotments",
                        "village_green",
                        "recreation_ground",
                        "plant_nursery",
                    ],
                    Area,
                    None,
                ),
                rule(
                    VEGETATION,
                    "natural",
                    &["wood", "scrub", "grassland", "heath", "wetland", "mangrove"],
                    Area,
                    None,
                ),
                rule(
                    VEGETATION,
                    "leisure",
                    &["park", "garden", "golf_course", "nature_reserve"],
                    Area,
                    None,
                ),
                rule(WATER, "natural", &["water", "bay"], Area, None),
                rule(
                    WATER,
                    "landuse",
                    &["reservoir", "basin", "salt_pond"],
                    Area,
                    None,
                ),
                rule(WATER, "waterway", &["riverbank", "dock"], Area, None),
                rule(WATER, "water", &["*"], Area, None),
                rule(WATER, "waterway", &["river"], Line, Some(20.0)),
                rule(WATER, "waterway", &["canal"], Line, Some(10.0)),
                rule(
                    WATER,
                    "waterway",
                    &["stream", "drain", "ditch"],
                    Line,
                    Some(3.0),
                ),
                rule(
                    ROAD,
                    "highway",
                    &[
                        "motorway",
                        "trunk",
                        "primary",
                        "motorway_link",
                        "trunk_link",
                        "primary_link",
                    ],
                    Line,
                    Some(12.0),
                ),
                rule(
                    ROAD,
                    "highway",
                    &["secondary", "tertiary", "secondary_link", "tertiary_link"],
                    Line,
                    Some(9.0),
                ),
                rule(
                    ROAD,
                    "highway",
                    &[
                        "unclassified",
                        "residential",
                        "living_street",
                        "service",
                        "pedestrian",
                        "road",
                    ],
                    Line,
                    Some(6.0),
                ),
                rule(ROAD, "highway", &["track"], Line, Some(4.0)),
                ClassRule {
                    except: vec!["no".into()],
                    ..rule(BUILDING, "building", &["*"], Area, None)
                },
            ],
        }
    }
}

impl ClassTable {
    /// Parses and validates a JSON class table.
    ///
    /// # Errors
    /// [`Error::ClassTable`] for malformed JSON, unknown fields, rules using undeclared
    /// classes, duplicate class ids, line rules without a positive width.
    pub fn from_json(text: &str) -> Result<Self> {
        Self::parse(text, Path::new("<memory>"))
    }

    /// Reads a JSON class table file.
    ///
    /// # Errors
    /// [`Error::Io`]; otherwise as [`from_json`](Self::from_json).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::parse(&text, path)
    }

    fn parse(text: &str, path: &Path) -> Result<Self> {
        let fail = |problem| Error::ClassTable {
            path: path.to_path_buf(),
            problem,
        };
        let table: ClassTable = serde_json::from_str(text).map_err(|e| {
            fail(ClassTableProblem::Json {
                detail: e.to_string(),
            })
        })?;
        table.validate().map_err(fail)?;
        Ok(table)
    }

    /// Checks the table's consistency.
    ///
    /// # Errors
    /// The first [`ClassTableProblem`] found.
    pub fn validate(&self) -> std::result::Result<(), ClassTableProblem> {
        for (i, c) in self.classes.iter().enumerate() {
            if self.classes[..i].iter().any(|d| d.id == c.id) {
                return Err(ClassTableProblem::DuplicateClass { class: c.id });
            }
        }
        for (i, r) in self.rules.iter().enumerate() {
            if self.class(r.class).is_none() {
                return Err(ClassTableProblem::UnknownClass {
                    rule: i,
                    class: r.class,
                });
            }
            if r.burn_as == BurnAs::Line
                && !self.width_m(r).is_some_and(|w| w > 0.0 && w.is_finite())
            {
                return Err(ClassTableProblem::NoWidth { rule: i });
            }
        }
        Ok(())
    }

    /// The table as pretty JSON (what `--classes` accepts).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The class with id `id`.
    pub fn class(&self, id: u8) -> Option<&ClassDef> {
        self.classes.iter().find(|c| c.id == id)
    }

    /// Full line width in metres of a rule (its own or its class's).
    pub fn width_m(&self, rule: &ClassRule) -> Option<f64> {
        rule.width_m
            .or_else(|| self.class(rule.class).and_then(|c| c.line_width_m))
    }

    /// The index and the class of the last rule matching `tags`, as `(class, rule index)`.
    pub fn class_of(&self, tags: &Tags) -> Option<(u8, usize)> {
        self.rules
            .iter()
            .enumerate()
            .rev()
            .find(|(_, r)| r.matches(tags))
            .map(|(i, r)| (r.class, i))
    }

    /// Whether any rule matches (a filter for [`ReadOptions::keep`](crate::vector::ReadOptions::keep)).
    pub fn matches(&self, tags: &Tags) -> bool {
        self.rules.iter().any(|r| r.matches(tags))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(kv: &[(&str, &str)]) -> Tags {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn default_table_is_valid_and_round_trips_json() {
        let t = ClassTable::default();
        t.validate().unwrap();
        assert_eq!(ClassTable::from_json(&t.to_json()).unwrap(), t);
    }

    #[test]
    fn later_rules_win_and_except_works() {
        let t = ClassTable::default();
        assert_eq!(
            t.class_of(&tags(&[("building", "yes"), ("landuse", "grass")]))
                .unwrap()
                .0,
            BUILDING
        );
        assert_eq!(
            t.class_of(&tags(&[("building", "no"), ("landuse", "grass")]))
                .unwrap()
                .0,
            VEGETATION
        );
        assert_eq!(
            t.class_of(&tags(&[("highway", "primary")])).unwrap().0,
            ROAD
        );
        assert_eq!(t.class_of(&tags(&[("highway", "footway")])), None);
        assert_eq!(t.class_of(&tags(&[("amenity", "school")])), None);
    }

    #[test]
    fn invalid_tables_are_typed() {
        let problem = |json: &str| match ClassTable::from_json(json) {
            Err(Error::ClassTable { problem, .. }) => problem,
            other => panic!("{other:?}"),
        };
        assert!(matches!(problem("{"), ClassTableProblem::Json { .. }));
        assert!(matches!(
            problem(r#"{"classes": [], "rules": [], "extra": 1}"#),
            ClassTableProblem::Json { .. }
        ));
        assert_eq!(
            problem(
                r#"{"classes": [{"id": 1, "name": "a"}], "rules": [{"class": 2, "key": "k", "as": "area"}]}"#
            ),
            ClassTableProblem::UnknownClass { rule: 0, class: 2 }
        );
        assert_eq!(
            problem(
                r#"{"classes": [{"id": 1, "name": "a"}, {"id": 1, "name": "b"}], "rules": []}"#
            ),
            ClassTableProblem::DuplicateClass { class: 1 }
        );
        assert_eq!(
            problem(
                r#"{"classes": [{"id": 1, "name": "a"}], "rules": [{"class": 1, "key": "k", "as": "line"}]}"#
            ),
            ClassTableProblem::NoWidth { rule: 0 }
        );
    }
}
