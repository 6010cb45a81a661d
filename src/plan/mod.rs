//! Plans and applies: the pure diff of desired (files) against observed (cluster), the plan as
//! data, and the apply engine with its journal.
