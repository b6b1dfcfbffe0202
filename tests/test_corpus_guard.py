"""A corpus that cannot be lost by mistake (issue 17): the index remembers its roots and reading
options, refuses a run that leaves out a root or would delete more than a share of its articles
(nothing changes: the index state after the refusal is checked), and keeps every id when a root
is added."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from support.corpora import write_article
from support.readers import stored_documents

from newsearch.cli import cli
from newsearch.corpus import Root, plan, scan, settings_from_meta
from newsearch.errors import CorpusError
from newsearch.indexer import build_index
from newsearch.storage import META_FILE, current_generation


def _archive(folder, count, topic="world"):
    for number in range(count):
        write_article(folder, f"{topic}/{number:02d}.txt", f"{topic} story {number}", f"Report {number} on {topic}.")
    return folder


def _ids(index_path) -> set[str]:
    return {doc_id for doc_id, _title in stored_documents(index_path) or ()}


def _meta(index_path) -> dict:
    return json.loads((current_generation(index_path) / META_FILE).read_text())


@pytest.fixture(autouse=True)
def _no_corpus_variable(monkeypatch):
    monkeypatch.delenv("NEWSEARCH_CORPUS", raising=False)  # a run without paths reads the remembered ones


@pytest.fixture
def archive(tmp_path):
    """120 articles in two topic folders, indexed into tmp_path/ix."""
    folder = _archive(tmp_path / "archive", 60)
    _archive(folder, 60, topic="business")
    build_index([folder], tmp_path / "ix")
    return folder


def test_the_index_remembers_its_roots_and_reading_options(archive, tmp_path):
    build_index([archive], tmp_path / "ix", follow_symlinks=True, max_bytes=123_456)
    meta = _meta(tmp_path / "ix")
    assert meta["corpus"] == [str(archive)]
    assert meta["roots"] == [{"path": str(archive), "prefix": ""}]
    assert (meta["follow_symlinks"], meta["max_bytes"]) == (True, 123_456)
    build_index(None, tmp_path / "ix")  # a plain run keeps them
    assert (_meta(tmp_path / "ix")["follow_symlinks"], _meta(tmp_path / "ix")["max_bytes"]) == (True, 123_456)


def test_follow_symlinks_is_remembered_so_a_plain_run_keeps_what_it_reached(tmp_path):
    outside = _archive(tmp_path / "outside", 3, topic="linked")
    corpus = _archive(tmp_path / "corpus", 3)
    (corpus / "elsewhere").symlink_to(outside)
    first = build_index([corpus], tmp_path / "ix", follow_symlinks=True)
    assert first.added == 6
    again = build_index([corpus], tmp_path / "ix")  # before: the links were not followed, 3 of 6 deleted
    assert (again.deleted, again.unchanged, again.skipped) == (0, 6, [])
    assert _meta(tmp_path / "ix")["follow_symlinks"] is True


def test_a_run_deleting_more_than_ten_percent_is_refused_and_changes_nothing(archive, tmp_path):
    before = stored_documents(tmp_path / "ix")
    generation = current_generation(tmp_path / "ix")
    for number in range(13):  # 13 of 120 articles: 11 %
        (archive / "business" / f"{number:02d}.txt").unlink()
    with pytest.raises(CorpusError) as refused:
        build_index([archive], tmp_path / "ix")
    message = str(refused.value)
    assert "would delete 13 of its 120 articles (11 %): business/ (13 articles)" in message
    assert "at most 10 %" in message and "--prune" in message and "Nothing was changed" in message
    assert stored_documents(tmp_path / "ix") == before
    assert current_generation(tmp_path / "ix") == generation
    assert build_index([archive], tmp_path / "ix", max_delete=0.2).deleted == 13  # a larger share allowed


def test_deletions_within_the_share_go_through(archive, tmp_path):
    for number in range(12):  # 12 of 120: 10 %, not more
        (archive / "world" / f"{number:02d}.txt").unlink()
    assert build_index([archive], tmp_path / "ix").deleted == 12
    assert len(_ids(tmp_path / "ix")) == 108


def test_a_few_deletions_from_a_small_index_go_through_but_not_all(tmp_path):
    corpus = _archive(tmp_path / "small", 12)
    build_index([corpus], tmp_path / "ix")
    for number in range(10):  # 10 of 12: a few files deleted by hand, not a missing drive
        (corpus / "world" / f"{number:02d}.txt").unlink()
    assert build_index([corpus], tmp_path / "ix").deleted == 10
    for number in (10, 11):
        (corpus / "world" / f"{number}.txt").unlink()
    (corpus / "world").rmdir()
    with pytest.raises(CorpusError, match="would delete 2 of its 2 articles"):
        build_index([corpus], tmp_path / "ix", rebuild=True)  # every article: refused however few


def test_a_missing_folder_under_a_rebuild_is_refused_too(archive, tmp_path):
    before = stored_documents(tmp_path / "ix")
    (archive / "business").rename(tmp_path / "unmounted")
    with pytest.raises(CorpusError, match=r"would delete 60 of its 120 articles \(50 %\): business/"):
        build_index(None, tmp_path / "ix", rebuild=True)
    assert stored_documents(tmp_path / "ix") == before
    assert build_index(None, tmp_path / "ix", rebuild=True, prune=True).documents == 60


def test_records_removed_from_a_file_count_as_deletions(tmp_path):
    dump = tmp_path / "dump" / "news.jsonl"
    dump.parent.mkdir()
    records = [{"id": f"r{number}", "title": f"Story {number}", "text": f"Body {number}."} for number in range(40)]
    dump.write_text("".join(json.dumps(record) + "\n" for record in records))
    build_index([dump.parent], tmp_path / "ix")
    before = stored_documents(tmp_path / "ix")
    dump.write_text("".join(json.dumps(record) + "\n" for record in records[:20]))  # truncated
    with pytest.raises(CorpusError, match=r"would delete 20 of its 40 articles \(50 %\): news.jsonl \(20 articles\)"):
        build_index([dump.parent], tmp_path / "ix")
    assert stored_documents(tmp_path / "ix") == before
    assert build_index([dump.parent], tmp_path / "ix", prune=True).deleted == 20


def test_a_stray_corpus_environment_variable_is_refused(archive, tmp_path, monkeypatch):
    stray = _archive(tmp_path / "stray", 4)
    monkeypatch.setenv("NEWSEARCH_CORPUS", str(stray))
    before = stored_documents(tmp_path / "ix")
    with pytest.raises(CorpusError) as refused:
        build_index(None, tmp_path / "ix")
    message = str(refused.value)
    assert f"leaves out {archive}, which the index was built from" in message
    assert f"this run's paths come from $NEWSEARCH_CORPUS: {stray}" in message
    # world/00..03.txt are files of the stray folder too: they would be replaced, the 116 others deleted
    assert "would delete 116 of its 120 articles (97 %): business/ (60 articles), world/ (56 articles)" in message
    assert stored_documents(tmp_path / "ix") == before
    assert _meta(tmp_path / "ix")["corpus"] == [str(archive)]


def test_adding_a_root_keeps_every_id_and_leaving_it_out_is_refused(archive, tmp_path):
    before = _ids(tmp_path / "ix")
    extra = _archive(tmp_path / "feeds", 2, topic="world")  # the same relative paths as two of the archive's
    report = build_index([archive, extra], tmp_path / "ix")
    assert (report.added, report.deleted, report.unchanged) == (2, 0, 120)
    assert _ids(tmp_path / "ix") == before | {"feeds/world/00.txt", "feeds/world/01.txt"}
    assert _meta(tmp_path / "ix")["roots"] == [{"path": str(archive), "prefix": ""},
                                               {"path": str(extra), "prefix": "feeds/"}]
    assert build_index(None, tmp_path / "ix").unchanged == 122  # both remembered
    with pytest.raises(CorpusError, match=r"leaves out .*feeds, which the index was built from; it would delete 2 "):
        build_index([archive], tmp_path / "ix")
    assert len(_ids(tmp_path / "ix")) == 122
    assert build_index([archive], tmp_path / "ix", prune=True).deleted == 2


def test_a_moved_corpus_that_loses_nothing_is_remembered_at_its_new_path(archive, tmp_path):
    moved = tmp_path / "new-disk" / "archive"
    moved.parent.mkdir()
    archive.rename(moved)
    moved.mkdir(parents=True, exist_ok=True)
    archive.mkdir()  # the old path is still there, empty
    report = build_index([moved], tmp_path / "ix")
    assert (report.deleted, report.unchanged) == (0, 120)
    assert _meta(tmp_path / "ix")["corpus"] == [str(moved)]


def test_a_rebuild_from_a_new_set_of_paths_replaces_the_corpus(archive, tmp_path):
    other = _archive(tmp_path / "other", 3, topic="sport")
    report = build_index([other], tmp_path / "ix", rebuild=True)
    assert report.documents == 3
    assert _ids(tmp_path / "ix") == {"sport/00.txt", "sport/01.txt", "sport/02.txt"}
    assert _meta(tmp_path / "ix")["roots"] == [{"path": str(other), "prefix": ""}]


def test_an_index_without_remembered_roots_keeps_its_ids(tmp_path):
    """Indexes written before roots were remembered name only their paths: several paths had
    ids relative to their common folder, and still have when a path is added."""
    one, two = _archive(tmp_path / "news" / "one", 2), _archive(tmp_path / "news" / "two", 2)
    third = _archive(tmp_path / "third", 1)
    old_style = settings_from_meta({"corpus": [str(one), str(two)]})
    assert old_style is not None and old_style.roots == (Root(one, "one/"), Root(two, "two/"))
    settings = plan([one, two, third], old_style)
    assert [file.relpath for file in scan(settings.roots).files] == [
        "one/world/00.txt", "one/world/01.txt", "third/world/00.txt", "two/world/00.txt", "two/world/01.txt"]


def test_new_roots_get_a_name_no_other_root_uses(tmp_path):
    archive = _archive(tmp_path / "a" / "news", 1)
    (archive / "news").mkdir()  # the archive has a folder named like the root to add
    added = _archive(tmp_path / "b" / "news", 1)
    remembered = settings_from_meta({"corpus": [str(archive)]})
    settings = plan([archive, added], remembered)
    assert settings.roots == (Root(archive, ""), Root(added, "news-2/"))
    assert [file.relpath for file in scan(settings.roots).files] == ["news-2/world/00.txt", "world/00.txt"]
    single = tmp_path / "dump.jsonl"
    single.write_text('{"title": "T", "text": "B"}\n')
    assert plan([archive, single], remembered).roots[1] == Root(single, "")  # its name is free


def test_the_cli_refuses_names_what_would_go_and_prune_proceeds(archive, tmp_path):
    runner = CliRunner()
    index = str(tmp_path / "ix")
    before = stored_documents(tmp_path / "ix")
    other = _archive(tmp_path / "bbc", 3, topic="tech")
    refused = runner.invoke(cli, ["index", str(other), "--index", index])
    assert refused.exit_code == 1
    assert f"leaves out {archive}, which the index was built from; it would delete 120 of its 120 articles (100 %): " \
           "business/ (60 articles), world/ (60 articles). Nothing was changed" in refused.output
    assert f"name it with the index's paths: `newsearch index --index {index} {archive} {other}`" in refused.output
    assert stored_documents(tmp_path / "ix") == before
    added = runner.invoke(cli, ["index", str(archive), str(other), "--index", index])
    assert added.exit_code == 0, added.output
    assert "3 added" in added.output and _ids(tmp_path / "ix") >= before_ids(before)
    pruned = runner.invoke(cli, ["index", str(other), "--index", index, "--prune"])
    assert pruned.exit_code == 0, pruned.output
    assert "120 deleted" in pruned.output
    assert _ids(tmp_path / "ix") == {"bbc/tech/00.txt", "bbc/tech/01.txt", "bbc/tech/02.txt"}  # ids kept


def test_the_cli_max_delete_is_a_percentage(archive, tmp_path):
    runner = CliRunner()
    for number in range(15):  # 12.5 %
        (archive / "world" / f"{number:02d}.txt").unlink()
    index = str(tmp_path / "ix")
    assert runner.invoke(cli, ["index", str(archive), "--index", index]).exit_code == 1
    assert runner.invoke(cli, ["index", str(archive), "--index", index, "--max-delete", "12"]).exit_code == 1
    assert runner.invoke(cli, ["index", str(archive), "--index", index, "--max-delete", "12.5"]).exit_code == 0
    assert len(_ids(tmp_path / "ix")) == 105


def before_ids(documents) -> set[str]:
    return {doc_id for doc_id, _title in documents}
