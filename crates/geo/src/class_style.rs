//! Sidecar files that make a class raster open with named, coloured classes in GIS tools:
//! `<map>.tif.aux.xml` (GDAL's PAM: category names, which `gdalinfo` lists and QGIS shows) and
//! `<map>.qml` (a QGIS paletted style, loaded automatically beside the raster). The colours
//! themselves go into the GeoTIFF's own colour table ([`RasterSpec::with_palette`](crate::RasterSpec::with_palette)).

use std::path::{Path, PathBuf};

use crate::atomic_file::write_atomic;
use crate::error::Result;
use crate::tiff_format::geokeys::xml_escape;

/// `<tif>.aux.xml` and `<tif without extension>.qml`.
pub fn class_style_paths(tif: &Path) -> (PathBuf, PathBuf) {
    let mut aux = tif.as_os_str().to_owned();
    aux.push(".aux.xml");
    (PathBuf::from(aux), tif.with_extension("qml"))
}

/// Writes the GDAL PAM and QGIS style sidecars of the one-band class raster `tif`: class
/// `i` is named `names[i]` and drawn in `colors[i]`; `nodata` (e.g. 255, unlabelled / no
/// prediction) is listed as transparent in the style. Each file is written to a temporary
/// file and renamed into place.
///
/// # Errors
/// [`Error::Io`](crate::Error::Io) naming the sidecar that could not be written.
///
/// # Examples
/// ```
/// use chronomap_geo::{class_style_paths, write_class_style};
/// let dir = tempfile::tempdir()?;
/// let tif = dir.path().join("map.tif");
/// let names = vec!["background".to_string(), "building".to_string()];
/// write_class_style(&tif, &names, &[[0, 0, 0], [220, 40, 40]], Some(255))?;
/// let (aux, qml) = class_style_paths(&tif);
/// assert!(std::fs::read_to_string(aux)?.contains("<Category>building</Category>"));
/// assert!(std::fs::read_to_string(qml)?.contains(r##"color="#dc2828" label="building""##));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn write_class_style(
    tif: &Path,
    names: &[String],
    colors: &[[u8; 3]],
    nodata: Option<u8>,
) -> Result<()> {
    let (aux, qml) = class_style_paths(tif);
    let mut pam = String::from("<PAMDataset>\n  <PAMRasterBand band=\"1\">\n    <CategoryNames>\n");
    for n in names {
        pam += &format!("      <Category>{}</Category>\n", xml_escape(n));
    }
    pam += "    </CategoryNames>\n  </PAMRasterBand>\n</PAMDataset>\n";
    write_atomic(&aux, &pam)?;
    let mut style = String::from(
        "<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n\
         <qgis version=\"3.28.0\" styleCategories=\"AllStyleCategories\">\n  <pipe>\n    \
         <rasterrenderer type=\"paletted\" band=\"1\" opacity=\"1\" alphaBand=\"-1\" nodataColor=\"\">\n      \
         <colorPalette>\n",
    );
    for (i, n) in names.iter().enumerate() {
        let [r, g, b] = colors.get(i).copied().unwrap_or([0, 0, 0]);
        style += &format!(
            "        <paletteEntry value=\"{i}\" color=\"#{r:02x}{g:02x}{b:02x}\" label=\"{}\" alpha=\"255\"/>\n",
            xml_escape(n)
        );
    }
    if let Some(nd) = nodata {
        style += &format!(
            "        <paletteEntry value=\"{nd}\" color=\"#000000\" label=\"no data\" alpha=\"0\"/>\n"
        );
    }
    style += "      </colorPalette>\n    </rasterrenderer>\n  </pipe>\n</qgis>\n";
    write_atomic(&qml, &style)
}

/// The category names of band 1 in `tif`'s GDAL PAM sidecar (`<tif>.aux.xml`, as
/// [`write_class_style`] or GDAL writes it); `None` when there is no sidecar or it lists
/// no categories.
pub(crate) fn read_category_names(tif: &Path) -> Option<Vec<String>> {
    let (aux, _) = class_style_paths(tif);
    let xml = std::fs::metadata(&aux)
        .ok()
        .filter(|m| m.is_file() && m.len() <= 1 << 20)
        .and_then(|_| std::fs::read_to_string(&aux).ok())?;
    let start = xml.find("<CategoryNames>")? + "<CategoryNames>".len();
    let end = start + xml[start..].find("</CategoryNames>")?;
    let mut rest = &xml[start..end];
    let mut names = Vec::new();
    while let Some(i) = rest.find("<Category") {
        rest = &rest[i + "<Category".len()..];
        let close = rest.find('>')?;
        if rest[..close].trim_end().ends_with('/') {
            // <Category/>: an unnamed class
            names.push(String::new());
            rest = &rest[close + 1..];
            continue;
        }
        let text_end = rest.find("</Category>")?;
        let text = &rest[close + 1..text_end];
        names.push(
            quick_xml::escape::unescape(text)
                .map(|t| t.into_owned())
                .unwrap_or_else(|_| text.to_string()),
        );
        rest = &rest[text_end + "</Category>".len()..];
    }
    (!names.is_empty()).then_some(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn category_names_round_trip_through_the_sidecar() {
        let dir = tempfile::tempdir().unwrap();
        let tif = dir.path().join("m.tif");
        assert_eq!(read_category_names(&tif), None);
        let names = vec![
            "water & sea".to_string(),
            String::new(),
            "<road>".to_string(),
        ];
        write_class_style(&tif, &names, &[[1, 2, 3]], Some(255)).unwrap();
        assert_eq!(read_category_names(&tif), Some(names));
    }
}
