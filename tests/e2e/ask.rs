//! `docent ask --json` over a small indexed folder, with the real default model.

use crate::common::*;

fn ask(data: &std::path::Path, question: &str) -> serde_json::Value {
    let mut command = docent(data);
    command.args(["ask", question, "--top-k", "2"]);
    run_json(&mut command)
}

#[test]
fn answers_from_the_library_and_says_when_it_does_not_know() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    index(&data, &[&repo_root().join("assets/sample-docs")]);

    let answer = ask(&data, "How often should I feed a sourdough starter?");
    assert_eq!(answer["found"], true, "{answer:#}");
    let text = answer["answer"].as_str().unwrap().to_lowercase();
    assert!(text.contains("once a day"), "{answer:#}");
    let citations = answer["citations"].as_array().unwrap();
    assert!(!citations.is_empty(), "{answer:#}");
    assert!(
        citations
            .iter()
            .any(|c| c["path"].as_str().unwrap().ends_with("sourdough.md")),
        "{answer:#}"
    );
    assert!(answer["timings"]["prompt_tokens"].as_u64().unwrap() > 0);

    let answer = ask(&data, "What is the boiling point of mercury?");
    assert_eq!(answer["found"], false, "{answer:#}");
    assert_eq!(answer["answer"], "I couldn't find this in your documents.");
    assert_eq!(
        answer["timings"]["prompt_tokens"], 0,
        "the model is not called"
    );
}
