//! The interactive console: the rustyline loop, the terminal-free `Session`, the command registry
//! and completion.
