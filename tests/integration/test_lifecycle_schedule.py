"""The injectable clock, `dockyard lifecycle run` over every repository, and `dockyard repo usage`,
on a server of their own started with a 40-day clock offset (a development/test switch)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import clients
from tests.integration.clients import Registry
from tests.integration.ecrtools import aws_cli, ecr_client
from tests.integration.ocitools import push_image

DAY = 24 * 3600
OFFSET = str(40 * DAY)


def older_than(days: int, priority: int = 1) -> dict[str, object]:
    return {
        "rulePriority": priority,
        "description": f"expire images pushed more than {days} days ago",
        "selection": {
            "tagStatus": "any",
            "countType": "sinceImagePushed",
            "countUnit": "days",
            "countNumber": days,
        },
        "action": {"type": "expire"},
    }


@pytest.fixture(scope="module")
def shifted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    workdir: Path = tmp_path_factory.mktemp("dockyard-clock")
    args = ["--dev-clock-offset-seconds", OFFSET, "--lifecycle-interval-minutes", "1440"]
    with clients.dockyard_server(workdir, extra_args=args) as reg:
        wait_startup_scan(reg)
        yield reg


def wait_startup_scan(reg: Registry, timeout: float = 30.0) -> None:
    """The scheduler runs each periodic task once at startup; with a 1440-minute interval the
    lifecycle scan then stays quiet, so only the test decides when policies are applied."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if reg.sql("SELECT 1 FROM jobs WHERE kind = 'lifecycle-scan' AND status = 'done'"):
            return
        time.sleep(0.2)
    raise AssertionError(f"the startup lifecycle scan did not finish\n{reg.log_tail()}")


def test_clock_offset_makes_fresh_images_old(shifted: Registry) -> None:
    ecr = ecr_client(shifted)
    repo = shifted.create_repo(f"clock/{uuid.uuid4().hex[:8]}")
    other = shifted.create_repo(f"clock/{uuid.uuid4().hex[:8]}")
    image = push_image(shifted, repo, "v1").digest
    kept = push_image(shifted, other, "v1").digest
    ecr.put_lifecycle_policy(
        repositoryName=repo, lifecyclePolicyText=json.dumps({"rules": [older_than(30, priority=7)]})
    )

    # The server's clock is 40 days ahead: its preview sees the image as 40 days old.
    ecr.start_lifecycle_policy_preview(repositoryName=repo)
    assert aws_cli(shifted, "wait", "lifecycle-policy-preview-complete", "--repository-name", repo) == {}
    preview = ecr.get_lifecycle_policy_preview(repositoryName=repo)
    assert [r["imageDigest"] for r in preview["previewResults"]] == [image]

    # The real clock: nothing is 30 days old yet.
    result = shifted.cli("lifecycle", "run", "--repo", repo)
    assert "0 images expired" in result.stdout, result.describe()

    # `lifecycle run` without --repo: every repository of the account with a policy.
    result = shifted.cli("lifecycle", "run", "--dev-clock-offset-seconds", OFFSET)
    assert f"EXPIRED {image}\t{repo}\tv1\t(rule 7)" in result.stdout, result.describe()
    assert "1 images expired, 0 archived in 1 repositories" in result.stdout, result.describe()
    assert shifted.manifest(repo, image).status_code == 404
    assert shifted.manifest_digest(other, "v1") == kept


def test_repo_usage(shifted: Registry) -> None:
    first = shifted.create_repo(f"usage/{uuid.uuid4().hex[:8]}")
    second = shifted.create_repo(f"usage/{uuid.uuid4().hex[:8]}")
    empty = shifted.create_repo(f"usage/{uuid.uuid4().hex[:8]}")
    push_image(shifted, first, "a")
    push_image(shifted, first, "b")
    push_image(shifted, second, "a")
    rows = {
        line.split()[0]: line.split()[1:]
        for line in shifted.cli("repo", "usage", "--bytes").stdout.splitlines()[1:]
    }
    sizes = dict(
        shifted.sql(
            "SELECT r.name, SUM(b.size) FROM repositories r "
            "JOIN repository_blobs rb ON rb.repository_id = r.id "
            "JOIN blobs b ON b.digest = rb.digest GROUP BY r.name"
        )
    )
    # Every pushed blob is fresh (random), so nothing is shared between these repositories.
    assert rows[first] == ["2", "4", str(sizes[first]), str(sizes[first])]
    assert rows[second] == ["1", "2", str(sizes[second]), str(sizes[second])]
    assert rows[empty] == ["0", "0", "0", "0"]

    # Mount one of `first`'s blobs into `empty`: shared bytes are no longer unique.
    digest, size = shifted.sql(
        "SELECT b.digest, b.size FROM repositories r JOIN repository_blobs rb ON rb.repository_id = r.id "
        f"JOIN blobs b ON b.digest = rb.digest WHERE r.name = '{first}' ORDER BY b.digest LIMIT 1"
    )[0]
    with shifted.http() as client:
        r = client.post(f"/v2/{empty}/blobs/uploads/", params={"mount": digest, "from": first})
        assert r.status_code == 201, r.text
    out = shifted.cli("repo", "usage", first, "--bytes").stdout.splitlines()
    assert len(out) == 2 and out[1].split() == [first, "2", "4", str(sizes[first]), str(sizes[first] - size)]
    # `repo list` shows the same sizes next to what DescribeRepositories shows.
    listed = {
        line.split()[0]: line.split()[1:]
        for line in shifted.cli("repo", "list", "--bytes").stdout.splitlines()[1:]
    }
    assert listed[first][1:] and listed[first][0].endswith(f"/{first}")
    assert listed[first][2:] == ["MUTABLE", "no", "2", str(sizes[first]), str(sizes[first] - size)]
    human = shifted.cli("repo", "usage", empty).stdout.splitlines()
    assert human[0].split() == ["REPOSITORY", "IMAGES", "BLOBS", "BYTES", "UNIQUE", "BYTES"]
    assert human[1].split()[:3] == [empty, "0", "1"] and human[1].endswith("0 B")


def test_transition_preview_and_run(shifted: Registry) -> None:
    """A transition rule previews as TRANSITION to ARCHIVE (with the image's current class and
    the summary's transitioning counts), then `lifecycle run` archives what it previewed."""
    ecr = ecr_client(shifted)
    repo = shifted.create_repo(f"clock/{uuid.uuid4().hex[:8]}")
    cold = push_image(shifted, repo, "cold-1").digest
    gone = push_image(shifted, repo, None).digest
    warm = push_image(shifted, repo, "warm-1").digest
    rules = [
        {
            "rulePriority": 1,
            "selection": {
                "tagStatus": "tagged",
                "tagPrefixList": ["cold"],
                "countType": "sinceImagePulled",
                "countUnit": "days",
                "countNumber": 30,
            },
            "action": {"type": "transition", "targetStorageClass": "archive"},
        },
        {
            "rulePriority": 2,
            "selection": {
                "tagStatus": "untagged",
                "countType": "sinceImagePushed",
                "countUnit": "days",
                "countNumber": 30,
            },
            "action": {"type": "expire"},
        },
    ]
    text = json.dumps({"rules": rules})
    ecr.put_lifecycle_policy(repositoryName=repo, lifecyclePolicyText=text)
    ecr.start_lifecycle_policy_preview(repositoryName=repo)
    assert aws_cli(shifted, "wait", "lifecycle-policy-preview-complete", "--repository-name", repo) == {}
    preview = ecr.get_lifecycle_policy_preview(repositoryName=repo)
    assert preview["status"] == "COMPLETE"
    by_digest = {r["imageDigest"]: r for r in preview["previewResults"]}
    assert set(by_digest) == {cold, gone}
    assert by_digest[cold]["action"] == {"type": "TRANSITION", "targetStorageClass": "ARCHIVE"}
    assert by_digest[cold]["storageClass"] == "STANDARD" and by_digest[cold]["appliedRulePriority"] == 1
    assert by_digest[gone]["action"] == {"type": "EXPIRE"} and "imageTags" not in by_digest[gone]
    assert preview["summary"] == {
        "expiringImageTotalCount": 1,
        "transitioningImageTotalCounts": [{"targetStorageClass": "ARCHIVE", "imageTotalCount": 1}],
    }

    result = shifted.cli("lifecycle", "run", "--repo", repo, "--dev-clock-offset-seconds", OFFSET)
    assert "1 images expired, 1 archived" in result.stdout, result.describe()
    status = {
        d["imageDigest"]: d.get("imageStatus")
        for d in ecr.describe_images(repositoryName=repo, filter={"imageStatus": "ANY"})["imageDetails"]
    }
    assert status == {cold: "ARCHIVED", warm: "ACTIVE"}
    assert shifted.manifest(repo, cold).status_code == 404
