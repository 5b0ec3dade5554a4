//! The built-in pack: every `policies/*.rhai` and its `policies/tests/*.yaml`, compiled
//! into the binary so the tool works with no files installed. A test checks these lists
//! against the directory, so a policy cannot be added and forgotten here.

macro_rules! pack {
    ($($name:literal),* $(,)?) => {
        /// (file name, source) of each built-in policy.
        pub const POLICIES: &[(&str, &str)] = &[$(($name, include_str!(concat!("../../policies/", $name, ".rhai")))),*];
        /// (file name, cases) of each built-in policy's tests.
        pub const TESTS: &[(&str, &str)] = &[$(($name, include_str!(concat!("../../policies/tests/", $name, ".yaml")))),*];
    };
}

pack![
    "TG101", "TG102", "TG103", "TG104", "TG105", "TG106", "TG201", "TG202", "TG203", "TG204", "TG205", "TG301",
    "TG302", "TG303", "TG304", "TG305", "TG306", "TG307", "TG308", "TG309", "TG310", "TG401", "TG402", "TG403",
    "TG404", "TG501", "TG502", "TG503", "TG510", "TG601", "TG602"
];
