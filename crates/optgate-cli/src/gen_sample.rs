//! `optgate gen-sample`.

use optgate_io::sample::{SampleOptions, generate};

use crate::GenSampleArgs;
use crate::exit::Failure;

pub fn gen_sample(args: &GenSampleArgs) -> Result<(), Failure> {
    if args.posts == 0 {
        return Err(Failure::input(anyhow::anyhow!(
            "--posts must be at least 1"
        )));
    }
    let opts = SampleOptions {
        posts: args.posts,
        seed: args.seed,
        int_ids: args.int_ids,
        files: args.files,
        row_group_rows: args.row_group_rows,
        dedup_truth: args.dedup_truth,
    };
    let s = generate(&args.out, &opts).map_err(Failure::runtime)?;
    println!(
        "optgate: wrote {} posts in {} files, {} accounts rows for {} authors, {} objections, {} consents to {}",
        s.posts,
        s.post_files,
        s.account_rows,
        s.authors,
        s.optout_rows,
        s.consent_rows,
        args.out.display()
    );
    Ok(())
}
