"""bench/multiwoz.py's pure parts: the split, the metrics, aggregation and report (no training)."""
import json

import pytest

from tests.bench_scripts import bench_module

mwoz = bench_module("multiwoz")
benchmark = mwoz.benchmark

TED = benchmark.policy_config("TEDPolicy", policies=mwoz.POLICIES)
NTM = benchmark.policy_config("NTMPolicy", policies=mwoz.POLICIES)


def story(i):
    """A story block as the data set writes them, told apart by its name and action."""
    return (f"- story: story_{i:03d}\n  steps:\n  - intent: inform\n    entities:\n"
            f"    - hotel_area: specific\n  - action: inform_hotel_{i}\n")


def dataset(tmp_path, n):
    """A data folder with n stories in data/train/stories.yml."""
    data = tmp_path / "data"
    (data / "data" / "train").mkdir(parents=True)
    (data / "data" / "train" / "stories.yml").write_text(
        'version: "3.1"\nstories:\n' + "".join(story(i) for i in range(n)))
    return data


def record(policy, config, run, accuracy, eval_stories=140, training_stories=600, **extra):
    """A record as do_run writes it (the fields the report reads), with load_records's key."""
    return {"policy": policy, "config": config, "key": benchmark.config_key(policy, config),
            "run": run, "accuracy": accuracy, "weighted_f1": accuracy - 0.01,
            "eval_actions": 1700, "stories_correct": run, "eval_stories": eval_stories,
            "training_stories": training_stories, "train_seconds": 100.0 * run,
            "process_seconds": 100.0 * run + 20, "peak_rss_mb": 1000.0 + run, "git": "abc1234",
            "machine": "test cpu", "date": "2026-01-01T00:00:00",
            "command": "python bench/multiwoz.py", **extra}


def test_the_split_is_seeded_disjoint_and_covers_every_story():
    train, evaluation = mwoz.split_indices(740, 140, seed=1)
    assert (len(train), len(evaluation)) == (600, 140)
    assert not set(train) & set(evaluation)
    assert sorted(train + evaluation) == list(range(740))
    assert train == sorted(train) and evaluation == sorted(evaluation)  # file order
    assert mwoz.split_indices(740, 140, seed=1) == (train, evaluation)  # the same every time
    assert mwoz.split_indices(740, 140, seed=2)[1] != evaluation  # another run, another split
    assert evaluation != list(range(140))  # shuffled, not the first 140


def test_the_eval_count_and_the_training_cap_are_respected():
    train, evaluation = mwoz.split_indices(740, 20, seed=3)
    assert (len(train), len(evaluation)) == (720, 20)
    capped, capped_eval = mwoz.split_indices(740, 20, seed=3, train_count=50)
    assert capped_eval == evaluation and len(capped) == 50 and set(capped) <= set(train)
    assert mwoz.training_count(740, 20) == 720
    assert mwoz.training_count(740, 20, 50) == 50
    assert mwoz.training_count(740, 20, 5000) == 720
    with pytest.raises(ValueError):
        mwoz.split_indices(10, 10, seed=1)


def test_split_names_mark_non_default_sizes():
    assert mwoz.split_name(1, 740, 140) == "run1"
    assert mwoz.split_name(2, 740, 140, train_count=600) == "run2"  # all the rest: the default
    assert mwoz.split_name(1, 740, 20) == "run1_eval20"
    assert mwoz.split_name(1, 740, 20, train_count=40) == "run1_eval20_train40"


def test_write_split_writes_both_parts_verbatim(tmp_path):
    data = dataset(tmp_path, 12)
    split = mwoz.write_split(data, tmp_path / "work", run=1, eval_count=4)
    assert split["name"] == "run1_eval4"
    assert split["train"]["path"] == tmp_path / "work" / "data" / "run1_eval4_train.yml"
    assert split["eval"]["path"] == tmp_path / "work" / "data" / "run1_eval4_eval.yml"
    header, train = benchmark.split_stories(split["train"]["path"].read_text())
    _, evaluation = benchmark.split_stories(split["eval"]["path"].read_text())
    assert header == 'version: "3.1"\nstories:\n'
    assert (split["train"]["count"], split["eval"]["count"]) == (8, 4) == (len(train),
                                                                           len(evaluation))
    train_idx, eval_idx = mwoz.split_indices(12, 4, seed=1)
    assert train == [story(i) for i in train_idx]
    assert evaluation == [story(i) for i in eval_idx]
    again = mwoz.write_split(data, tmp_path / "work", run=1, eval_count=4)
    assert again["train"]["sha1"] == split["train"]["sha1"]
    assert mwoz.write_split(data, tmp_path / "work", run=2, eval_count=4)["eval"]["sha1"] \
        != split["eval"]["sha1"]


def test_read_metrics_from_a_story_report(tmp_path):
    benchmark.write_json(tmp_path / "story_report.json", {
        "inform_hotel": {"precision": 0.5, "recall": 1.0, "f1-score": 0.667, "support": 3},
        "micro avg": {"precision": 0.61, "recall": 0.6, "f1-score": 0.605, "support": 10},
        "macro avg": {"precision": 0.4, "recall": 0.5, "f1-score": 0.45, "support": 10},
        "weighted avg": {"precision": 0.55, "recall": 0.6, "f1-score": 0.57, "support": 10},
        "accuracy": 0.6,
        "conversation_accuracy": {"accuracy": 0.5, "correct": 1, "with_warnings": 0,
                                  "total": 2}})
    (tmp_path / "failed_test_stories.yml").write_text(
        'version: "3.1"\nstories:\n- story: story_b (eval.yml)\n  steps: []\n')
    assert mwoz.read_metrics(tmp_path) == {
        "accuracy": 0.6, "weighted_f1": 0.57, "eval_actions": 10, "stories_correct": 1,
        "eval_stories": 2, "failed_stories": ["story_b (eval.yml)"]}
    benchmark.write_json(tmp_path / "story_report.json", {"accuracy": 0.6})
    with pytest.raises(RuntimeError):
        mwoz.read_metrics(tmp_path)


def test_overrides_make_a_separate_config_key():
    assert TED == {"name": "TEDPolicy", "max_history": 10, "epochs": 100,
                   "batch_strategy": "sequence", "random_seed": 2019}
    overrides = benchmark.parse_overrides(['TEDPolicy={"epochs": 1}'], mwoz.POLICIES)
    smoke = benchmark.policy_config("TEDPolicy", overrides, mwoz.POLICIES)
    assert smoke == {**TED, "epochs": 1}
    assert benchmark.config_key("TEDPolicy", smoke) != benchmark.config_key("TEDPolicy", TED)
    ntm = benchmark.policy_config(
        "NTMPolicy", benchmark.parse_overrides(['NTMPolicy={"epochs": 1}'], mwoz.POLICIES),
        mwoz.POLICIES)
    assert benchmark.config_key("NTMPolicy", ntm) != benchmark.config_key("NTMPolicy", NTM)
    with pytest.raises(SystemExit):  # the REDP benchmark's third policy is not one of these
        benchmark.parse_overrides(['REDPPolicy={"epochs": 1}'], mwoz.POLICIES)


def test_aggregate_keeps_this_configs_runs_and_the_difference_of_common_runs():
    smoke = {**TED, "epochs": 1}
    records = [record("TEDPolicy", TED, 1, 0.60), record("TEDPolicy", TED, 2, 0.62),
               record("TEDPolicy", TED, 3, 0.64), record("NTMPolicy", NTM, 3, 0.70),
               record("NTMPolicy", NTM, 1, 0.65),
               record("TEDPolicy", smoke, 4, 0.1),  # another config
               record("NTMPolicy", NTM, 2, 0.2, eval_stories=20, training_stories=720),
               record("TEDPolicy", TED, 4, 0.3, training_stories=50)]  # other split sizes
    report = mwoz.aggregate(records, {"NTMPolicy": NTM, "TEDPolicy": TED}, 140, 600)
    ted, ntm = report["policies"]["TEDPolicy"], report["policies"]["NTMPolicy"]
    assert [r["run"] for r in ted["runs"]] == [1, 2, 3]
    assert [r["run"] for r in ntm["runs"]] == [1, 3]  # in order, run 2 missing
    assert ted["mean"]["accuracy"] == pytest.approx(0.62)
    assert ntm["mean"]["train_seconds"] == pytest.approx(200.0)
    assert ted["config"] == TED and ted["key"] == benchmark.config_key("TEDPolicy", TED)
    difference = report["difference"]
    assert difference["of"] == "NTMPolicy - TEDPolicy" and difference["runs"] == [1, 3]
    assert difference["per_run"] == pytest.approx([0.05, 0.06])
    assert difference["mean"] == pytest.approx(0.055)
    assert report["git"] == ["abc1234"] and report["machine"] == "test cpu"
    assert (report["eval_stories"], report["training_stories"]) == (140, 600)
    json.dumps(report)  # serialisable as is

    md = mwoz.render_markdown(report)
    assert "| NTMPolicy | 1, 3 | 0.675 (0.650, 0.700; n=2) | 0.665 | 2.0 (1, 3; n=2) | 200 " \
           "| 220 | 1002 |" in md
    assert "| TEDPolicy | 1, 2, 3 | 0.620 (0.600, 0.620, 0.640; n=3) |" in md
    assert "NTMPolicy − TEDPolicy action accuracy on the same runs (1, 3): +0.055 " \
           "(+0.050, +0.060)." in md
    assert "- `python bench/multiwoz.py`" in md


def test_no_common_run_means_no_difference():
    records = [record("TEDPolicy", TED, 1, 0.60), record("NTMPolicy", NTM, 2, 0.65)]
    report = mwoz.aggregate(records, {"NTMPolicy": NTM, "TEDPolicy": TED}, 140, 600)
    assert report["difference"] is None
    assert "NTMPolicy − TEDPolicy action accuracy: no run of both." in mwoz.render_markdown(report)
    empty = mwoz.aggregate([], {"NTMPolicy": NTM, "TEDPolicy": TED}, 140, 600)
    assert empty["policies"]["NTMPolicy"]["mean"]["accuracy"] is None
    assert "| NTMPolicy | – | – | – | – | – | – | – |" in mwoz.render_markdown(empty)


def test_done_runs_are_not_redone_and_report_only_reports_them(tmp_path, monkeypatch):
    data = dataset(tmp_path, 160)
    work = tmp_path / "work"
    cell = work / benchmark.config_key("TEDPolicy", TED) / "run1"
    cell.mkdir(parents=True)
    benchmark.write_json(cell / "record.json", record("TEDPolicy", TED, 1, 0.61,
                                                      training_stories=20))

    def no_work(*args):
        raise AssertionError("a done run was redone")

    monkeypatch.setattr(benchmark, "train_cell", no_work)
    monkeypatch.setattr(benchmark, "run_test_core", no_work)
    assert mwoz.do_run("TEDPolicy", TED, 1, 140, None, work, data) == "done"
    results = tmp_path / "results"
    assert mwoz.main(["--report-only", "--work-dir", str(work), "--results", str(results),
                      "--data", str(data)]) == 0
    report = json.loads((results / "multiwoz.json").read_text())
    assert [r["accuracy"] for r in report["policies"]["TEDPolicy"]["runs"]] == [0.61]
    assert report["policies"]["NTMPolicy"]["runs"] == []
    assert "| TEDPolicy | 1 | 0.610 (0.610; n=1) |" in (results / "multiwoz.md").read_text()
    # the same records, asked for with other split sizes, are not these runs
    assert mwoz.main(["--report-only", "--eval-stories", "20", "--work-dir", str(work),
                      "--results", str(results), "--data", str(data)]) == 0
    assert json.loads((results / "multiwoz.json").read_text())["policies"]["TEDPolicy"][
        "runs"] == []


def test_a_run_whose_test_merged_identical_stories_counts_with_the_stories_written():
    """rasa test core merges eval stories with identical steps (139 scored of 140 written)."""
    merged = {**record("NTMPolicy", NTM, 1, 0.66, eval_stories=139), "eval_stories_written": 140}
    other = {**record("NTMPolicy", NTM, 2, 0.5, eval_stories=139), "eval_stories_written": 141}
    report = mwoz.aggregate([merged, other], {"NTMPolicy": NTM}, 140, 600)
    assert [r["run"] for r in report["policies"]["NTMPolicy"]["runs"]] == [1]
