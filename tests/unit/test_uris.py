"""The one file-URI normalisation: every engine's spelling of a local file is one file."""

import os

import pytest

from warehouse.uris import file_uri, is_local, local_path, normalise_uri


@pytest.mark.parametrize(
    "spelling",
    [
        "/w/t/data/a b.parquet",
        "file:/w/t/data/a b.parquet",  # Spark / Hadoop Path
        "file:///w/t/data/a b.parquet",  # pyiceberg
        "file://localhost/w/t/data/a b.parquet",
        "file:///w/t/data/a%20b.parquet",  # percent-escaped
        "file:///w/t//data/./a b.parquet",
    ],
)
def test_every_spelling_of_a_local_file_is_one_file(spelling):
    assert is_local(spelling)
    assert local_path(spelling) == "/w/t/data/a b.parquet"
    assert normalise_uri(spelling) == "/w/t/data/a b.parquet"


def test_object_store_uris_keep_bucket_and_key():
    assert not is_local("s3://bucket/w/t/x.parquet")
    assert local_path("s3://bucket/w/t/x.parquet") == "s3://bucket/w/t/x.parquet"
    assert normalise_uri("S3://bucket/w//t/x.parquet") == "s3://bucket/w/t/x.parquet"
    assert normalise_uri("gs://b/a") != normalise_uri("s3://b/a")


def test_a_file_on_another_host_is_not_local():
    assert not is_local("file://otherhost/w/x")
    assert local_path("file://otherhost/w/x") == "file://otherhost/w/x"


def test_file_uri_resolves_the_real_location(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    assert file_uri(str(link)) == "file://" + os.path.realpath(real)
    assert file_uri("file:/" + str(real).lstrip("/")) == "file://" + os.path.realpath(real)
    assert file_uri("s3://bucket/w/") == "s3://bucket/w"
