"""`dockyard tls init`: a local CA and a server certificate, and how to make clients trust it."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def tls() -> None:
    """Certificates for serving HTTPS (`dockyard serve --tls-cert/--tls-key`)."""


@tls.command("init")
@click.option(
    "--host",
    "hosts",
    multiple=True,
    required=True,
    metavar="NAME",
    help="A DNS name or IP address clients use to reach the server (repeat for several).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("./tls"),
    show_default=True,
    help="Where to write the CA and the server certificate (an existing CA there is reused).",
)
@click.option(
    "--port", default=5000, type=int, show_default=True, help="The port clients use (for the instructions)."
)
def init(hosts: tuple[str, ...], out: Path, port: int) -> None:
    """Make a local CA (once) and a server certificate it signs for the given hosts."""
    from dockyard import local_ca

    try:
        issued = local_ca.issue(out, list(hosts))
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    ca = issued.ca_cert.resolve()
    click.echo(
        f"{'Created' if issued.new_ca else 'Reused'} the CA {ca} (its key: {issued.directory.resolve()}/"
        f"{local_ca.CA_KEY}, keep it private)\n"
        f"Server certificate for {', '.join(hosts)}: {issued.server_cert.resolve()}\n\n"
        "Serve HTTPS with it:\n"
        f"  dockyard serve --host 0.0.0.0 --port {port} --tls-cert {issued.server_cert.resolve()} "
        f"--tls-key {issued.server_key.resolve()}\n"
    )
    addr = f"{_url_host(hosts[0])}:{port}"
    click.echo(
        "Make clients trust the CA (on every machine that pulls or pushes):\n"
        f"  docker:   sudo mkdir -p /etc/docker/certs.d/{addr} && "
        f"sudo cp {ca} /etc/docker/certs.d/{addr}/ca.crt\n"
        f"  podman:   sudo mkdir -p /etc/containers/certs.d/{addr} && "
        f"sudo cp {ca} /etc/containers/certs.d/{addr}/ca.crt\n"
        f"            (rootless: ~/.config/containers/certs.d/{addr}/ca.crt; or --cert-dir DIR, "
        "DIR holding ca.crt)\n"
        f"  skopeo:   skopeo copy --dest-cert-dir {issued.directory.resolve()} ... "
        "(--src-cert-dir, --cert-dir; never --tls-verify=false)\n"
        f"  aws CLI:  aws ecr ... --endpoint-url https://{addr} --ca-bundle {ca}\n"
        f"            (or AWS_CA_BUNDLE={ca}; boto3: verify='{ca}')\n"
        f"  system:   sudo cp {ca} /usr/local/share/ca-certificates/dockyard-local-ca.crt && "
        "sudo update-ca-certificates   (Debian, Ubuntu)"
    )
    if len(hosts) > 1:
        click.echo(f"  (one certs.d directory per HOST:PORT clients use: {', '.join(hosts)})")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
