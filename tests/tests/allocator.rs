//! The allocator settings of `engram serve` (`crates/malloc`): the thread that hands glibc
//! malloc's free memory back to the system runs unless `--malloc-trim-interval` is 0.
//! (What a trim releases is tested in `engram-malloc`; its effect on RSS is measured by the soak.)

#![cfg(all(target_os = "linux", target_env = "gnu"))]

use engram_tests::Server;

/// The names of the process's threads (`comm`, at most 15 bytes: "engram-malloc-t").
fn thread_names(pid: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server's /proc/<pid>/task");
    tasks
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .collect()
}

fn has_trimmer(server: &Server) -> bool {
    let names = thread_names(server.child.id());
    assert!(names.len() > 2, "the server's threads: {names:?}");
    names.iter().any(|name| name.starts_with("engram-malloc"))
}

#[test]
fn serve_runs_the_malloc_trimmer_by_default() {
    let server = Server::start(&[]);
    assert!(has_trimmer(&server), "no engram-malloc-trim thread: {:?}", thread_names(server.child.id()));
}

#[test]
fn a_trim_interval_of_zero_runs_no_trimmer() {
    let server = Server::start(&["--malloc-trim-interval", "0"]);
    assert!(!has_trimmer(&server), "a trimmer with --malloc-trim-interval 0: {:?}", thread_names(server.child.id()));
}

#[test]
fn a_trim_interval_that_is_not_seconds_is_refused_by_name() {
    let out = std::process::Command::new(engram_tests::engram_bin())
        .args(["serve", "--malloc-trim-interval", "soon"])
        .env_remove("DATABASE_URL")
        .output()
        .expect("run engram");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--malloc-trim-interval"), "{stderr}");
}
