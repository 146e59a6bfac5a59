"""bench/redp_benchmark.py's pure parts: exclusion, records, aggregation, report (no training)."""
import json

import pytest

from tests.bench_scripts import bench_module

bench = bench_module("redp_benchmark")

TED = bench.policy_config("TEDPolicy")
NTM = bench.policy_config("NTMPolicy")


def record(policy, config, percentage, run, correct, **extra):
    """A record as do_cell writes it (the fields the report reads)."""
    kept = bench.kept_count(148, percentage)
    return {"policy": policy, "config": config, "percentage": percentage, "run": run,
            "correct": correct, "train_seconds": 10.0 * run, "peak_rss_mb": 900.0 + run,
            "training_stories": kept, "machine": "test cpu", **extra}


def test_exclusion_is_seeded_nested_and_counts_like_rasa():
    assert [bench.kept_count(148, p) for p in bench.PERCENTAGES] == [148, 111, 74, 37]
    assert bench.kept_indices(148, 0, seed=1) == list(range(148))  # Rasa: no shuffle at 0 %
    for run in (1, 2, 3):
        kept = [bench.kept_indices(148, p, seed=run) for p in bench.PERCENTAGES]
        assert [len(k) for k in kept] == [148, 111, 74, 37]
        assert kept[1] == bench.kept_indices(148, 25, seed=run)  # same subset every time
        assert set(kept[3]) <= set(kept[2]) <= set(kept[1])
    assert bench.kept_indices(148, 25, seed=1) != bench.kept_indices(148, 25, seed=2)


def test_split_stories_keeps_each_story_verbatim(tmp_path):
    text = ('version: "3.1"\nstories:\n- story: a\n  steps:\n  - intent: greet\n'
            '- story: a\n  steps:\n  - action: utter_greet\n\n')
    header, blocks = bench.split_stories(text)
    assert header == 'version: "3.1"\nstories:\n'
    assert blocks == ["- story: a\n  steps:\n  - intent: greet\n",
                      "- story: a\n  steps:\n  - action: utter_greet\n"]
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "s.yml").write_text(text)
    count, sha1 = bench.write_subset(tmp_path / "train", 50, 1, tmp_path / "p50.yml")
    assert count == 1 and sha1 == bench.write_subset(tmp_path / "train", 50, 1,
                                                     tmp_path / "p50.yml")[1]


def test_overrides_make_a_separate_config_key():
    overrides = bench.parse_overrides(['TEDPolicy={"epochs": 2}'])
    smoke = bench.policy_config("TEDPolicy", overrides)
    assert smoke["epochs"] == 2 and smoke["max_history"] == 38
    assert bench.config_key("TEDPolicy", smoke) != bench.config_key("TEDPolicy", TED)
    with pytest.raises(SystemExit):
        bench.parse_overrides(['Nope={"epochs": 2}'])


def test_aggregate_fills_missing_runs_with_null_and_ignores_other_configs():
    smoke = {**TED, "epochs": 2}
    records = [record("TEDPolicy", TED, 0, 1, 28), record("TEDPolicy", TED, 75, 2, 13),
               record("TEDPolicy", smoke, 25, 1, 0), record("NTMPolicy", NTM, 50, 4, 20)]
    report = bench.aggregate(records, {"NTMPolicy": NTM, "TEDPolicy": TED}, n_train=148)
    assert report["dataset"] == "redp" and report["test_stories"] == 32
    assert report["percentages"] == [0, 25, 50, 75]
    assert report["training_stories"] == [148, 111, 74, 37]
    ted = report["policies"]["TEDPolicy"]
    assert ted["runs"] == [[28, None, None, None], [None, None, None, 13],
                           [None, None, None, None]]
    assert ted["train_seconds"][1] == [None, None, None, 20.0]
    assert ted["peak_rss_mb"][0] == [901.0, None, None, None]
    assert ted["config"] == TED
    assert report["policies"]["NTMPolicy"]["runs"] == [[None] * 4] * 3 + [[None, None, 20, None]]
    json.dumps(report)  # serialisable as is


def test_markdown_table():
    records = [record("TEDPolicy", TED, 0, 1, 28), record("TEDPolicy", TED, 0, 2, 31)]
    report = bench.aggregate(records, {"NTMPolicy": NTM, "TEDPolicy": TED}, n_train=148)
    md = bench.render_markdown(report)
    assert "| policy | 0 % excluded (148 stories) | 25 % excluded (111 stories) |" in md
    assert "| TEDPolicy | 29.5 (28, 31; n=2) | – | – | – |" in md
    assert "| NTMPolicy | – | – | – | – |" in md
    assert "| REDP (published) | 32.0 (32, 32, 32; n=3) | 29.7 (31, 30, 28; n=3) |" in md
    assert "| TED (published) | 30.0 (28, 31, 31; n=3) |" in md
    assert "| TEDPolicy | 15 s / 902 MB | – |" in md


def test_a_policy_without_records_is_carried_over_from_the_previous_report_of_its_config():
    earlier = [record("TEDPolicy", TED, 0, 1, 28), record("NTMPolicy", NTM, 0, 1, 30)]
    previous = bench.aggregate(earlier, {"NTMPolicy": NTM, "TEDPolicy": TED}, n_train=148)
    report = bench.aggregate([record("NTMPolicy", NTM, 0, 1, 31)],
                             {"NTMPolicy": NTM, "TEDPolicy": TED}, n_train=148)
    merged = bench.carry_over(report, previous)
    # TEDPolicy has no record here: the earlier figures, marked; NTMPolicy's own records win
    assert merged["policies"]["TEDPolicy"]["runs"][0] == [28, None, None, None]
    assert merged["policies"]["TEDPolicy"]["carried_over"] is True
    assert merged["policies"]["NTMPolicy"]["runs"][0] == [31, None, None, None]
    assert "carried_over" not in merged["policies"]["NTMPolicy"]
    md = bench.render_markdown(merged)
    assert "| TEDPolicy (earlier run) | 28.0 (28; n=1) |" in md and "| NTMPolicy | 31.0" in md
    assert merged["machine"] == "test cpu; earlier runs: test cpu"
    # another config, or other percentages, is not carried over
    other = bench.aggregate([record("TEDPolicy", {**TED, "epochs": 2}, 0, 1, 5)],
                            {"TEDPolicy": {**TED, "epochs": 2}}, n_train=148)
    assert bench.carry_over(report, other) == report
    assert bench.carry_over(report, {**previous, "percentages": [0, 75]}) == report
    assert bench.carry_over(report, None) == report


def test_done_records_are_skipped_and_trained_models_only_scored(tmp_path, monkeypatch):
    cell = bench.cell_dir(tmp_path, "TEDPolicy", TED, 25, 1)
    assert bench.todo_state(cell) == "train"
    cell.mkdir(parents=True)
    (cell / "model.tar.gz").write_text("")
    bench.write_json(cell / "train.json", {"model": str(cell / "model.tar.gz")})
    assert bench.todo_state(cell) == "score"
    bench.write_json(cell / "record.json", record("TEDPolicy", TED, 25, 1, 30))
    assert bench.todo_state(cell) == "done"

    def no_work(*args):
        raise AssertionError("a done cell was redone")

    monkeypatch.setattr(bench, "train_cell", no_work)
    monkeypatch.setattr(bench, "score_cell", no_work)
    assert bench.do_cell("TEDPolicy", TED, 25, 1, tmp_path, tmp_path) == "done"
    assert bench.load_records(tmp_path)[0]["correct"] == 30


def test_read_score_checks_report_against_failed_stories(tmp_path):
    report = {"conversation_accuracy": {"correct": 30, "total": 32}}
    bench.write_json(tmp_path / "story_report.json", report)
    (tmp_path / "failed_test_stories.yml").write_text(
        'version: "3.1"\nstories:\n- story: x\n  steps: []\n- story: y\n  steps: []\n')
    assert bench.read_score(tmp_path) == (30, 32, ["x", "y"])
    (tmp_path / "failed_test_stories.yml").write_text("# None of the test stories failed")
    with pytest.raises(RuntimeError):
        bench.read_score(tmp_path)


def test_report_only_writes_json_md_png(tmp_path):
    data = tmp_path / "data"
    (data / "data" / "train").mkdir(parents=True)
    (data / "data" / "train" / "s.yml").write_text(
        'version: "3.1"\nstories:\n' + "- story: s\n  steps:\n  - intent: greet\n" * 148)
    cell = bench.cell_dir(tmp_path / "work", "TEDPolicy", TED, 50, 1)
    cell.mkdir(parents=True)
    bench.write_json(cell / "record.json", record("TEDPolicy", TED, 50, 1, 25))
    results = tmp_path / "results"
    assert bench.main(["--report-only", "--work-dir", str(tmp_path / "work"),
                       "--results", str(results), "--data", str(data)]) == 0
    report = json.loads((results / "redp_benchmark.json").read_text())
    assert report["policies"]["TEDPolicy"]["runs"][0] == [None, None, 25, None]
    assert set(report["policies"]) == {"NTMPolicy", "REDPPolicy", "TEDPolicy"}
    assert (results / "redp_benchmark.png").stat().st_size > 0
    assert "25.0 (25; n=1)" in (results / "redp_benchmark.md").read_text()


def test_the_config_key_follows_the_options_a_model_trains_with(tmp_path, monkeypatch):
    from rasa_ntm_policy import config as ntm_config

    default_key = bench.config_key("NTMPolicy", NTM)
    # spelling a default out is the same config ...
    spelled = {**NTM, "read_heads": ntm_config.DEFAULTS["read_heads"]}
    assert bench.config_key("NTMPolicy", spelled) == default_key
    # ... while a changed default is another one, so earlier runs are not reported as its runs
    old = bench.cell_dir(tmp_path, "NTMPolicy", NTM, 50, 1)
    old.mkdir(parents=True)
    bench.write_json(old / "record.json", record("NTMPolicy", NTM, 50, 1, 11))
    monkeypatch.setitem(ntm_config.DEFAULTS, "read_heads", ntm_config.DEFAULTS["read_heads"] + 1)
    assert bench.config_key("NTMPolicy", NTM) != default_key
    report = bench.aggregate(bench.load_records(tmp_path), {"NTMPolicy": NTM}, n_train=148)
    assert report["policies"]["NTMPolicy"]["runs"] == [[None] * 4] * 3


def test_the_original_redp_results_join_the_table_and_plot(tmp_path):
    data = tmp_path / "data"
    (data / "data" / "train").mkdir(parents=True)
    (data / "data" / "train" / "s.yml").write_text(
        'version: "3.1"\nstories:\n' + "- story: s\n  steps:\n  - intent: greet\n" * 148)
    results = tmp_path / "results"
    results.mkdir()
    bench.write_json(results / bench.REFERENCE_FILE, {
        "percentages": [0, 25, 50, 75], "config": "policies: []",
        "runs": [[None, None, None, 24], [None, None, None, 20], [None] * 4],
        "train_seconds": [[None, None, None, 1200.0], [None, None, None, 1000.0], [None] * 4]})
    assert bench.main(["--report-only", "--work-dir", str(tmp_path / "work"),
                       "--results", str(results), "--data", str(data)]) == 0
    md = (results / "redp_benchmark.md").read_text()
    assert f"| {bench.REFERENCE_NAME} | – | – | – | 22.0 (24, 20; n=2) |" in md
    assert f"| {bench.REFERENCE_NAME} | – | – | – | 1100 s |" in md
    report = json.loads((results / "redp_benchmark.json").read_text())
    assert report["reference"][bench.REFERENCE_NAME]["runs"][0][3] == 24
    assert (results / "redp_benchmark.png").stat().st_size > 0
