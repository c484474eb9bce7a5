//! Shutdown signals: SIGTERM (what orchestrators send) and ctrl-c / SIGINT end the server
//! gracefully. The handlers are installed when [`signal`] is called, not when its future is first
//! polled, so a signal that arrives while the engines are still starting is not lost.

use std::future::Future;

/// Installs the signal handlers now and returns a future that completes on the first SIGTERM
/// or SIGINT (ctrl-c). Must be called inside a tokio runtime. A handler that cannot be installed
/// is logged and never fires.
pub fn signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            let term = async {
                match term {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for SIGTERM");
                        std::future::pending::<()>().await;
                    }
                }
            };
            let int = async {
                match int {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot listen for SIGINT");
                        std::future::pending::<()>().await;
                    }
                }
            };
            tokio::select! {
                () = term => tracing::info!("SIGTERM received, shutting down"),
                () = int => tracing::info!("SIGINT (ctrl-c) received, shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            match tokio::signal::ctrl_c().await {
                Ok(()) => tracing::info!("ctrl-c received, shutting down"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for ctrl-c");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
}
