"""The gRPC client's TLS options against the real binary serving TLS (--tls-cert/--tls-key, and
--tls-client-ca for mutual TLS): root certificates as a file path or PEM bytes, https:// addresses,
the checked server name, a client certificate; and the failures: plaintext to the TLS port, a
server whose CA is not trusted, no client certificate (or one of another CA) where one is needed.
Also `engram mcp` (stdio) calling a TLS server with --ca-cert, --client-cert and --client-key.
Certificates are made here with the openssl command line."""

import asyncio
import subprocess
import uuid

import pytest
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from conftest import EngramServer, engram_bin
from engram import Engram, UnavailableError


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", f"/CN={name}", "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.crt"))
    return d / f"{name}.crt", d / f"{name}.key"


def issue(d, ca, name, san, usage):
    """A certificate for `name` signed by `ca` (its .crt and .key), with subjectAltName and EKU."""
    ca_crt, ca_key = ca
    key, csr, crt, ext = (d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt", d / f"{name}.ext")
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={name}",
            "-keyout", str(key), "-out", str(csr))
    ext.write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey", str(ca_key), "-CAcreateserial",
            "-days", "1", "-extfile", str(ext), "-out", str(crt))
    return crt, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca, clients_ca, stranger_ca = make_ca(d, "server-ca"), make_ca(d, "clients-ca"), make_ca(d, "stranger-ca")
    return {
        "ca": ca[0],
        "server": issue(d, ca, "server", "DNS:localhost,IP:127.0.0.1", "serverAuth"),
        "clients_ca": clients_ca[0],
        "client": issue(d, clients_ca, "client", "DNS:agent-runner", "clientAuth"),
        "stranger": issue(d, stranger_ca, "stranger", "DNS:agent-runner", "clientAuth"),
        "other_ca": stranger_ca[0],
    }


@pytest.fixture(scope="module")
def tls_server(pki):
    crt, key = pki["server"]
    s = EngramServer("--tls-cert", str(crt), "--tls-key", str(key))
    yield s
    s.stop()


@pytest.fixture(scope="module")
def mtls_server(pki):
    crt, key = pki["server"]
    s = EngramServer("--tls-cert", str(crt), "--tls-key", str(key), "--tls-client-ca", str(pki["clients_ca"]))
    yield s
    s.stop()


def port(server):
    return server.addr.rsplit(":", 1)[1]


def test_tls_with_root_certificates(tls_server, pki):
    p, key, ca = port(tls_server), tls_server.admin_key, pki["ca"]
    name = f"tls-{uuid.uuid4().hex[:8]}"
    # A file path or PEM bytes; giving certificates turns TLS on.
    with Engram(f"localhost:{p}", key, root_certificates=str(ca)) as client:
        assert client.config.tls
        agent = client.register_agent(name)
    with Engram(f"https://localhost:{p}", key, root_certificates=ca.read_bytes()) as client:
        assert client.get_agent(name).id == agent.id
    # The certificate names localhost and 127.0.0.1; the name checked can also be set.
    with Engram(f"127.0.0.1:{p}", key, root_certificates=ca) as client:
        assert client.get_agent(name).id == agent.id
    with Engram(f"127.0.0.1:{p}", key, tls=True, root_certificates=ca, tls_server_name="localhost") as client:
        assert client.get_agent(name).id == agent.id
    # Plaintext to the TLS port, or TLS without trusting its CA, does not connect.
    with Engram(f"localhost:{p}", key, retries=0, timeout=5) as client:
        with pytest.raises(UnavailableError):
            client.get_agent(name)
    with Engram(f"localhost:{p}", key, root_certificates=pki["other_ca"], retries=0, timeout=5) as client:
        with pytest.raises(UnavailableError):
            client.get_agent(name)
    with Engram(f"localhost:{p}", key, tls=True, retries=0, timeout=5) as client:  # the system's roots
        with pytest.raises(UnavailableError):
            client.get_agent(name)
    with pytest.raises(ValueError):
        Engram(f"localhost:{p}", tls=False, root_certificates=ca)


def test_mutual_tls_with_a_client_certificate(mtls_server, pki):
    p, key, ca = port(mtls_server), mtls_server.admin_key, pki["ca"]
    crt, client_key = pki["client"]
    name = f"mtls-{uuid.uuid4().hex[:8]}"
    with Engram(f"localhost:{p}", key, root_certificates=ca, certificate_chain=crt, private_key=client_key) as client:
        assert client.register_agent(name).name == name
    # No client certificate, or one of another CA: refused.
    with Engram(f"localhost:{p}", key, root_certificates=ca, retries=0, timeout=5) as client:
        with pytest.raises(UnavailableError):
            client.get_agent(name)
    s_crt, s_key = pki["stranger"]
    with Engram(f"localhost:{p}", key, root_certificates=ca, certificate_chain=s_crt, private_key=s_key,
                retries=0, timeout=5) as client:
        with pytest.raises(UnavailableError):
            client.get_agent(name)


async def mcp_remember(addr, key, *flags):
    """The result of one `remember` call through `engram mcp <flags>` at `addr`."""
    env = {"ENGRAM_ADDR": addr, "ENGRAM_API_KEY": key, "ENGRAM_LOG_LEVEL": "warn"}
    params = StdioServerParameters(command=engram_bin(), args=["mcp", *flags], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            content = f"reached over TLS {uuid.uuid4().hex}"
            return await session.call_tool("remember", {"agent": "tls-mcp", "content": content})


def test_mcp_stdio_reaches_a_tls_server(tls_server, mtls_server, pki):
    ca = str(pki["ca"])
    tls = f"https://localhost:{port(tls_server)}"
    done = asyncio.run(mcp_remember(tls, tls_server.admin_key, "--ca-cert", ca))
    assert not done.is_error, done.content
    assert done.structured_content["content"].startswith("reached over TLS")
    # Without the server's CA the call fails as a tool error naming the connection; the process
    # keeps serving.
    refused = asyncio.run(mcp_remember(tls, tls_server.admin_key))
    assert refused.is_error and "certificate" in refused.content[0].text.lower(), refused.content

    mtls = f"https://localhost:{port(mtls_server)}"
    crt, key = pki["client"]
    client = ("--ca-cert", ca, "--client-cert", str(crt), "--client-key", str(key))
    done = asyncio.run(mcp_remember(mtls, mtls_server.admin_key, *client))
    assert not done.is_error, done.content
    refused = asyncio.run(mcp_remember(mtls, mtls_server.admin_key, "--ca-cert", ca))
    assert refused.is_error, refused.content
