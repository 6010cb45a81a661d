// `node --test web/e2e/` finds test files by name (test-*.mjs, *.test.mjs); the dashboard's
// end-to-end test keeps its name dashboard.e2e.mjs, so this file is what the runner picks up.
import "./dashboard.e2e.mjs";
