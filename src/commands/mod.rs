//! One file per command: parse arguments, call the domain layers, return data for the front end
//! to render through the `Ui`.
