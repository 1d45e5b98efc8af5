//! Drawing a dataflow: as Mermaid, as Graphviz DOT, or as a self-contained
//! HTML page with the graph laid out and drawn in SVG.

pub mod dot;
pub mod html;
pub mod layout;
pub mod mermaid;
pub mod model;

pub use model::Graph;
