//! Rate limits and quotas through the real binary: a key's and an org's own limits, set with
//! `engram key limits` / `engram org limits` while the server runs, and the defaults of its
//! flags; answered with RESOURCE_EXHAUSTED + `retry-after` (gRPC) and 429 + `Retry-After` (REST).

use std::process::Command;
use std::time::Duration;

use engram_tests::{Server, engram_bin, memory, pb};
use tonic::Code;

fn cli(server: &Server, args: &[&str]) -> String {
    let out = Command::new(engram_bin()).args(args).arg("--data-dir").arg(&server.data_dir).output().unwrap();
    assert!(out.status.success(), "engram {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

async fn new_key(admin: &mut engram_tests::Clients, org: &str) -> (String, String) {
    let created = admin
        .admin
        .create_api_key(pb::CreateApiKeyRequest {
            org_id: org.into(),
            name: "limited".into(),
            permissions: vec![pb::Permission::Read as i32, pb::Permission::Write as i32],
            expires_at: None,
        })
        .await
        .unwrap()
        .into_inner();
    (created.key.unwrap().id, created.secret)
}

#[tokio::test]
async fn a_key_over_its_rate_is_refused_with_retry_after_and_other_keys_are_not() {
    let server = Server::start(&["--limits-refresh", "0.1"]);
    let mut admin = server.admin().await;
    let org = admin.admin.create_org(pb::CreateOrgRequest { name: "rated".into() }).await.unwrap().into_inner().id;
    let (limited_id, limited) = new_key(&mut admin, &org).await;
    let (_, free) = new_key(&mut admin, &org).await;

    let shown = cli(&server, &["key", "limits", &limited_id, "--rate", "0.5", "--burst", "2"]);
    assert!(shown.contains("rate_per_sec=0.5") && shown.contains("burst=2"), "{shown}");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut limited_client = server.clients(Some(&limited)).await;
    for i in 0..2 {
        limited_client
            .memories
            .add_memory(pb::AddMemoryRequest { memory: Some(memory("rated", &format!("within the burst {i}"))) })
            .await
            .unwrap();
    }
    let refused = limited_client
        .memories
        .add_memory(pb::AddMemoryRequest { memory: Some(memory("rated", "over the rate")) })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains(&format!("API key {limited_id}")), "{}", refused.message());
    let retry: u64 = refused.metadata().get("retry-after").unwrap().to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "retry-after {retry}");

    // REST: the same bucket, 429 with Retry-After.
    let rest = rest_get(&server, &limited, "/api/v1/agents").await;
    assert_eq!(rest.0, 429, "{}", rest.2);
    assert!(rest.1.as_deref().is_some_and(|v| v.parse::<u64>().is_ok_and(|s| s >= 1)), "{:?}", rest.1);
    assert!(rest.2.contains("rate limit"), "{}", rest.2);

    // Another key of the same org is not limited (no org limit).
    let mut free_client = server.clients(Some(&free)).await;
    for i in 0..5 {
        free_client
            .memories
            .add_memory(pb::AddMemoryRequest { memory: Some(memory("free", &format!("unlimited {i}"))) })
            .await
            .unwrap();
    }

    // Nothing refused was stored.
    let listed = free_client
        .memories
        .list_memories(pb::ListMemoriesRequest { filter: Some(engram_tests::filter()), ..Default::default() })
        .await
        .unwrap()
        .into_inner()
        .memories;
    assert_eq!(listed.len(), 7);
    assert!(listed.iter().all(|m| m.content != "over the rate"));

    // Cleared: the key is free again once the change is read.
    cli(&server, &["key", "limits", &limited_id, "--clear"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for i in 0..4 {
        limited_client
            .memories
            .add_memory(pb::AddMemoryRequest { memory: Some(memory("rated", &format!("cleared {i}"))) })
            .await
            .unwrap();
    }

    // Bad limits are refused by the CLI naming the field.
    let out = Command::new(engram_bin())
        .args(["key", "limits", &limited_id, "--rate=-3", "--data-dir"])
        .arg(&server.data_dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rate_per_sec"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn an_org_limit_covers_all_its_keys_and_its_memory_quota_refuses_writes_that_pass_it() {
    // Defaults from flags: every org at most 6 memories, 1000 calls/s.
    let server = Server::start(&["--limits-refresh", "0.1", "--org-max-memories", "6", "--org-rate-limit", "1000"]);
    let mut admin = server.admin().await;
    let org = admin.admin.create_org(pb::CreateOrgRequest { name: "quota".into() }).await.unwrap().into_inner().id;
    let (_, key) = new_key(&mut admin, &org).await;
    let mut client = server.clients(Some(&key)).await;

    let batch = |n: usize, tag: &str| pb::AddMemoriesRequest {
        memories: (0..n).map(|i| memory("q", &format!("{tag} {i}"))).collect(),
    };
    client.memories.add_memories(batch(4, "first")).await.unwrap();
    // A batch that would pass the quota is refused whole, naming it.
    let refused = client.memories.add_memories(batch(3, "second")).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(refused.message().contains("max_memories") && refused.message().contains(&org), "{}", refused.message());
    client.memories.add_memories(batch(2, "fits")).await.unwrap();
    let full = client
        .memories
        .add_memory(pb::AddMemoryRequest { memory: Some(memory("q", "one too many")) })
        .await
        .unwrap_err();
    assert_eq!(full.code(), Code::ResourceExhausted);
    let rest = rest_post(&server, &key, "/api/v1/memories", r#"{"agent_id": "q", "content": "over REST"}"#).await;
    assert_eq!(rest.0, 429, "{}", rest.2);
    assert!(rest.2.contains("quota"), "{}", rest.2);

    // The org's own quota overrides the default; deleting frees room.
    cli(&server, &["org", "limits", &org, "--max-memories", "7"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let made = client
        .memories
        .add_memory(pb::AddMemoryRequest { memory: Some(memory("q", "the seventh")) })
        .await
        .unwrap()
        .into_inner()
        .memory
        .unwrap();
    assert!(client.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory("q", "eighth")) }).await.is_err());
    client.memories.delete_memory(pb::DeleteMemoryRequest { id: made.id }).await.unwrap();
    client.memories.add_memory(pb::AddMemoryRequest { memory: Some(memory("q", "fits again")) }).await.unwrap();

    // An org rate limit: every key of the org draws from one bucket.
    cli(&server, &["org", "limits", &org, "--rate", "0.2", "--burst", "3"]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, second) = new_key(&mut admin, &org).await;
    let mut other = server.clients(Some(&second)).await;
    let mut refused = 0;
    for _ in 0..3 {
        if let Err(status) = client.agents.list_agents(pb::ListAgentsRequest::default()).await {
            assert_eq!(status.code(), Code::ResourceExhausted);
            refused += 1;
        }
        if let Err(status) = other.agents.list_agents(pb::ListAgentsRequest::default()).await {
            assert_eq!(status.code(), Code::ResourceExhausted);
            assert!(status.message().contains(&format!("org {org}")), "{}", status.message());
            refused += 1;
        }
    }
    assert_eq!(refused, 3, "3 of 6 calls fit the org's burst of 3");
    // The admin's org (org_default) is not limited by this org's limit.
    admin.agents.list_agents(pb::ListAgentsRequest::default()).await.unwrap();
}

/// (status, Retry-After, body)
async fn rest_get(server: &Server, key: &str, path: &str) -> (u16, Option<String>, String) {
    rest(server, key, "GET", path, None).await
}

#[tokio::test]
async fn an_org_byte_quota_counts_content_bytes_and_deleting_frees_them() {
    // Default: every org at most 1 KiB of memory content.
    let server = Server::start(&["--limits-refresh", "0.1", "--org-max-memory-bytes", "1KiB"]);
    let mut admin = server.admin().await;
    let org = admin.admin.create_org(pb::CreateOrgRequest { name: "bytes".into() }).await.unwrap().into_inner().id;
    let (_, key) = new_key(&mut admin, &org).await;
    let mut client = server.clients(Some(&key)).await;
    // Content of exactly `n` UTF-8 bytes, unique by its first characters.
    let sized = |tag: &str, n: usize| format!("{tag}{}", "x".repeat(n - tag.len()));
    let add = |content: String| pb::AddMemoryRequest { memory: Some(memory("b", &content)) };

    let mut made = Vec::new();
    for tag in ["a", "b", "c"] {
        made.push(client.memories.add_memory(add(sized(tag, 300))).await.unwrap().into_inner().memory.unwrap().id);
    }
    // 900 stored; 200 more would pass 1024: refused, naming the quota and the org.
    let refused = client.memories.add_memory(add(sized("d", 200))).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted);
    assert!(
        refused.message().contains("max_memory_bytes") && refused.message().contains(&org),
        "{}",
        refused.message()
    );
    // Bytes, not characters: 62 two-byte characters are 124 bytes and fill the quota exactly.
    let accents = "é".repeat(62);
    assert_eq!(accents.len(), 124);
    client.memories.add_memory(add(accents)).await.unwrap();
    let one_more = client.memories.add_memory(add("f".into())).await.unwrap_err();
    assert_eq!(one_more.code(), Code::ResourceExhausted, "1024 + 1 bytes");
    // A batch is counted whole; REST answers 429.
    let batch = pb::AddMemoriesRequest { memories: vec![memory("b", "g"), memory("b", "h")] };
    assert_eq!(client.memories.add_memories(batch).await.unwrap_err().code(), Code::ResourceExhausted);
    let rest = rest_post(&server, &key, "/api/v1/memories", r#"{"agent_id": "b", "content": "over REST"}"#).await;
    assert_eq!(rest.0, 429, "{}", rest.2);
    assert!(rest.2.contains("max_memory_bytes"), "{}", rest.2);

    // Deleting a memory frees its bytes.
    client.memories.delete_memory(pb::DeleteMemoryRequest { id: made.remove(0) }).await.unwrap();
    client.memories.add_memory(add(sized("i", 299))).await.unwrap();

    // The org's own quota overrides the default, set with a unit.
    let shown = cli(&server, &["org", "limits", &org, "--max-memory-bytes", "2KiB"]);
    assert!(shown.contains("max_memory_bytes=2048"), "{shown}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    client.memories.add_memory(add(sized("j", 1000))).await.unwrap();

    // Bad quotas are refused by the CLI naming the field or the unit; what was stored stays.
    for (value, named) in [("0", "max_memory_bytes"), ("3XB", "unit"), ("99999999999TiB", "2^64")] {
        let out = Command::new(engram_bin())
            .args(["org", "limits", &org, "--max-memory-bytes", value, "--data-dir"])
            .arg(&server.data_dir)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{value}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(named),
            "{value}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(cli(&server, &["org", "limits", &org]).contains("max_memory_bytes=2048"));
}

async fn rest_post(server: &Server, key: &str, path: &str, body: &str) -> (u16, Option<String>, String) {
    rest(server, key, "POST", path, Some(body)).await
}

/// A minimal HTTP/1.1 exchange over a TCP socket (the tests crate has no HTTP client).
async fn rest(
    server: &Server,
    key: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (u16, Option<String>, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nx-api-key: {key}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, rest) = response.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let retry = head.lines().find_map(|l| {
        l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("retry-after")).map(|(_, v)| v.trim().to_owned())
    });
    (status, retry, rest.to_owned())
}
