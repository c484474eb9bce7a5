//! A TCP proxy on 127.0.0.1 for outage tests: it stands between a client and MariaDB and can
//! be cut (every connection dropped, new ones refused) and restored.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, Semaphore};
use tokio::task::JoinSet;

/// A TCP proxy to `upstream` on 127.0.0.1 that can be cut (every connection dropped, new ones
/// refused) and restored. At most 32 connections at once.
pub struct Proxy {
    pub port: u16,
    up: Arc<AtomicBool>,
    pipes: Arc<Mutex<JoinSet<()>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let port = listener.local_addr().expect("addr").port();
        let up = Arc::new(AtomicBool::new(true));
        let pipes = Arc::new(Mutex::new(JoinSet::new()));
        let limit = Arc::new(Semaphore::new(32));
        let (up2, pipes2) = (up.clone(), pipes.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(permit) = limit.clone().try_acquire_owned() else {
                    continue;
                };
                pipes2.lock().await.spawn(async move {
                    let _permit = permit;
                    if let Ok(mut server) = TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Self {
            port,
            up,
            pipes,
            accept,
        }
    }

    /// Drops every open connection and refuses new ones.
    pub async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.pipes.lock().await.abort_all();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// `host:port` of the MariaDB `url` (`TestDb::url_via(None)`), for [`Proxy::start`].
pub fn upstream(url: &str) -> &'static str {
    Box::leak(
        url.rsplit_once('@')
            .and_then(|(_, hp)| hp.split_once('/'))
            .map(|(hp, _)| hp.to_owned())
            .expect("host:port in the url")
            .into_boxed_str(),
    )
}
