//! Writes the phone library's numbering plans as static Rust data
//! (`$OUT_DIR/phone_plans.rs`), for `src/phone.rs`.
//!
//! The library loads its metadata at run time by checking the syntax of
//! every pattern of every region, about 60 ms of CPU before the first number
//! can be read; a run of a few million posts spends 3% of its time there.
//! The scanner needs the patterns of the few regions its texts call on, so
//! the plans are read from the library once, here, and compiled one plan at
//! a time when first used. The tests compare every answer with the
//! library's on the same metadata.

use std::fmt::Write as _;

use phonenumber::metadata::{DATABASE, Descriptor, Metadata};

fn desc(out: &mut String, d: &Descriptor) {
    write!(
        out,
        "DescData {{ pattern: {:?}, lengths: &{:?}, local_lengths: &{:?} }}",
        d.national_number().as_str(),
        d.possible_length(),
        d.possible_local_length(),
    )
    .expect("writing to a String");
}

fn plan(out: &mut String, m: &Metadata) {
    let d = m.descriptors();
    write!(
        out,
        "    PlanData {{ code: {}, id: {:?}, idd: {:?}, national_prefix: {:?}, prefix_for_parsing: {:?}, transform: {:?}, leading_digits: {:?}, general: ",
        m.country_code(),
        m.id(),
        m.international_prefix().map(|r| r.as_str()),
        m.national_prefix(),
        m.national_prefix_for_parsing().map(|r| r.as_str()),
        m.national_prefix_transform_rule(),
        m.leading_digits().map(|r| r.as_str()),
    )
    .expect("writing to a String");
    desc(out, d.general());
    out.push_str(", types: &[");
    // The common types first: a number is valid when any matches, so the
    // order changes no answer, and most numbers are one of these.
    let types = [
        d.fixed_line(),
        d.mobile(),
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ];
    for t in types.into_iter().flatten() {
        desc(out, t);
        out.push_str(", ");
    }
    out.push_str("] },\n");
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let mut out = String::from(
        "// Written by build.rs from the phone library's metadata.\n\
         /// Every numbering plan, grouped by country code in ascending order, and\n\
         /// within a code in the library's order (the main region first).\n\
         pub(crate) static PLANS: &[PlanData] = &[\n",
    );
    let mut plans = 0;
    for code in 1..=999u16 {
        for m in DATABASE.by_code(&code).into_iter().flatten() {
            plan(&mut out, m);
            plans += 1;
        }
    }
    out.push_str("];\n");
    assert!(plans > 200, "the phone library lists {plans} plans");
    let dir = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let path = std::path::Path::new(&dir).join("phone_plans.rs");
    std::fs::write(&path, out).expect("OUT_DIR is writable");
}
