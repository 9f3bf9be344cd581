"""The `dockyard` command: run the server and manage what it stores.

Every option can also come from a `DOCKYARD_<OPTION>` environment variable or
from a TOML file given with `--config` (flags win over the environment, which
wins over the file; see `dockyard/config.py`). One module per command group;
the options they share are in `common.py`.
"""

from __future__ import annotations

import os

import click

from dockyard import __version__
from dockyard.cli import (
    accounts,
    demo_image,
    fsck,
    iam,
    lifecycle,
    maintenance,
    repo,
    scan,
    serve,
    tls,
    vulndb,
)
from dockyard.cli.common import check_environment


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dockyard")
@click.pass_context
def main(ctx: click.Context) -> None:
    """Dockyard: a self-hosted container registry with Amazon ECR's APIs.

    \b
    Start here:
      dockyard serve                      run the registry on 127.0.0.1:5000, data in ./data
      dockyard repo create hello-world    create a repository to push to
    """
    check_environment(dict(os.environ), ctx.command)


for command in (
    serve.serve,
    repo.repo,
    maintenance.migrate,
    accounts.account,
    accounts.user,
    accounts.key,
    maintenance.jobs,
    fsck.scrub,
    fsck.fsck,
    maintenance.check,
    iam.iam,
    lifecycle.lifecycle,
    maintenance.gc_command,
    vulndb.vulndb,
    scan.scan,
    scan.sbom,
    demo_image.demo_image,
    tls.tls,
):
    main.add_command(command)
