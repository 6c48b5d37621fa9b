//! An OpenLineage RunEvent for a run: COMPLETE with the manifest's figures
//! as standard dataset facets, or FAIL with the error.

use std::path::Path;

use optgate_io::read::rfc3339_micros;
use optgate_manifest::Manifest;
use serde_json::{Value, json};

use crate::exit::Failure;

const PRODUCER: &str = concat!(
    "https://github.com/optgate/optgate/tree/v",
    env!("CARGO_PKG_VERSION")
);
const SPEC: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";

fn facet(schema: &str, mut body: Value) -> Value {
    body["_producer"] = json!(PRODUCER);
    body["_schemaURL"] = json!(format!("https://openlineage.io/spec/facets/{schema}"));
    body
}

/// The run id as a UUID: the 64-bit run id, stretched and marked as version 4.
fn run_uuid(run_id: &str) -> String {
    let h = xxhash_rust::xxh3::xxh3_128(run_id.as_bytes());
    uuid::Builder::from_random_bytes(h.to_le_bytes())
        .into_uuid()
        .to_string()
}

fn absolute(p: &Path) -> String {
    std::path::absolute(p)
        .unwrap_or_else(|_| p.to_path_buf())
        .display()
        .to_string()
}

pub fn run_event(
    run_id: &str,
    started_at: i64,
    out: &Path,
    manifest: Option<&Manifest>,
    failure: Option<&Failure>,
) -> Value {
    let job_name = format!(
        "optgate.run.{}",
        out.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let mut run_facets = json!({
        "nominalTime": facet("1-0-1/NominalTimeRunFacet.json#/$defs/NominalTimeRunFacet", json!({
            "nominalStartTime": rfc3339_micros(started_at),
        })),
    });
    let (event_type, inputs, outputs) = match manifest {
        Some(m) => {
            let posts_rows: u64 = m.inputs.posts.iter().map(|f| f.rows).sum();
            let posts_bytes: u64 = m.inputs.posts.iter().map(|f| f.bytes).sum();
            let assertions: Vec<Value> = m
                .verification
                .assertions
                .iter()
                .map(|a| json!({"assertion": a.name, "success": a.passed}))
                .collect();
            let mut inputs = vec![json!({
                "namespace": "file",
                "name": m.inputs.posts_dir,
                "inputFacets": {
                    "inputStatistics": facet(
                        "1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet",
                        json!({"rowCount": posts_rows, "size": posts_bytes, "fileCount": m.inputs.posts.len()}),
                    ),
                    "dataQualityMetrics": facet(
                        "1-0-2/DataQualityMetricsInputDatasetFacet.json#/$defs/DataQualityMetricsInputDatasetFacet",
                        json!({"rowCount": posts_rows, "bytes": posts_bytes, "columnMetrics": {}}),
                    ),
                    "dataQualityAssertions": facet(
                        "1-0-1/DataQualityAssertionsDatasetFacet.json#/$defs/DataQualityAssertionsDatasetFacet",
                        json!({"assertions": assertions}),
                    ),
                },
            })];
            for t in [
                Some(&m.inputs.accounts),
                m.inputs.optouts.as_ref(),
                m.inputs.consents.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                inputs.push(json!({
                    "namespace": "file",
                    "name": t.path,
                    "inputFacets": {
                        "inputStatistics": facet(
                            "1-0-0/InputStatisticsInputDatasetFacet.json#/$defs/InputStatisticsInputDatasetFacet",
                            json!({"rowCount": t.rows, "size": t.bytes, "fileCount": 1}),
                        ),
                    },
                }));
            }
            let out_bytes: u64 = m.outputs.iter().map(|f| f.bytes).sum();
            let outputs = vec![json!({
                "namespace": "file",
                "name": absolute(out),
                "outputFacets": {
                    "outputStatistics": facet(
                        "1-0-2/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet",
                        json!({"rowCount": m.counts.kept, "size": out_bytes, "fileCount": m.outputs.len()}),
                    ),
                },
            })];
            ("COMPLETE", inputs, outputs)
        }
        None => {
            if let Some(f) = failure {
                run_facets["errorMessage"] = facet(
                    "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
                    json!({
                        "message": crate::error_message(&f.error),
                        "programmingLanguage": "Rust",
                    }),
                );
            }
            ("FAIL", Vec::new(), Vec::new())
        }
    };
    json!({
        "eventType": event_type,
        "eventTime": rfc3339_micros(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_micros() as i64)
                .unwrap_or(started_at)
        ),
        "producer": PRODUCER,
        "schemaURL": SPEC,
        "run": {"runId": run_uuid(run_id), "facets": run_facets},
        "job": {"namespace": "optgate", "name": job_name},
        "inputs": inputs,
        "outputs": outputs,
    })
}
