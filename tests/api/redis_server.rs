//! A real `redis-server` of a test's own, on a free loopback port, stopped when dropped (or by
//! the test, to see the instances go on without it). The binary is `CONFAB_TEST_REDIS_SERVER`
//! or `redis-server` on the PATH; without it the tests that need Redis say so and are skipped,
//! unless `CONFAB_REQUIRE_REDIS=1` (CI) makes that a failure.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RedisServer {
    port: u16,
    child: Mutex<Option<Child>>,
}

impl RedisServer {
    /// Starts one, or `None` when there is no `redis-server` to start (and it is not required).
    pub fn start() -> Option<Self> {
        let binary =
            std::env::var("CONFAB_TEST_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        let port = free_port();
        let spawned = Command::new(&binary)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--loglevel", "warning"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) if std::env::var("CONFAB_REQUIRE_REDIS").as_deref() != Ok("1") => {
                eprintln!("skipped: {binary} cannot be started ({error}); install redis-server");
                return None;
            }
            Err(error) => panic!("CONFAB_REQUIRE_REDIS=1 but {binary} cannot be started: {error}"),
        };
        let server = Self {
            port,
            child: Mutex::new(Some(child)),
        };
        server.wait_until_answering();
        Some(server)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server: from now on every command the instances send fails.
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().unwrap().take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    fn wait_until_answering(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut answer = [0u8; 7];
                if stream.write_all(b"PING\r\n").is_ok()
                    && stream.read_exact(&mut answer).is_ok()
                    && &answer == b"+PONG\r\n"
                {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}
