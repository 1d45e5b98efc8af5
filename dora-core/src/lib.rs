pub mod suggest;
pub mod yaml;
