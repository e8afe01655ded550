//! PNG quicklooks: class maps with a legend, stretched RGB composites, and a plain RGB8
//! writer, all written atomically (temporary file + rename).

mod colors;
mod composite;
mod legend;
mod png_file;
mod text;

pub use colors::{class_colors, colorize};
pub use composite::{percentile_stretch, write_composite_png};
pub use legend::{LegendEntry, legend_for_table, with_legend, write_class_map_png};
pub use png_file::write_rgb_png;
pub use text::{draw_text, text_width};
