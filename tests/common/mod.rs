//! What the real-server integration tests share: a library in a fresh data
//! dir under the target's temporary folder, and a server for it on an
//! ephemeral loopback port.
//!
//! Each test binary uses a part of this, so unused items are expected.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use zhengce::api::{self, AppState};
use zhengce::service::{self, IngestReport, Service};

/// `name` under the target's temporary folder, emptied.
pub fn fresh_data_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Opens a library in a fresh data dir with the real model and ingests
/// `files` (the bundled corpus when empty) through the same call `zhengce
/// serve` makes on its first start; every file must go in.
pub fn ingested_service(data_dir_name: &str, files: &[PathBuf]) -> Ingested {
    let data_dir = fresh_data_dir(data_dir_name);
    let service = Service::open(&data_dir, &zhengce::embed::default_model_dir())
        .expect("open the library (model missing? run scripts/fetch-model.sh)");
    let files = if files.is_empty() {
        vec![service::bundled_corpus_dir()]
    } else {
        files.to_vec()
    };
    let report = service
        .ingest_files(&files, &mut |_| {})
        .expect("ingest the test documents");
    assert!(report.failed.is_empty(), "failed: {:?}", report.failed);
    Ingested {
        service: Arc::new(service),
        report,
        data_dir,
    }
}

pub struct Ingested {
    pub service: Arc<Service>,
    pub report: IngestReport,
    pub data_dir: PathBuf,
}

/// Serves `state` (API and page) on 127.0.0.1 at a free port, from a runtime
/// on its own thread that lives as long as the test binary.
pub fn serve(state: AppState) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        rt.block_on(async move {
            let listener = api::bind("127.0.0.1:0".parse().unwrap())
                .await
                .expect("bind a loopback port");
            tx.send(listener.local_addr().unwrap()).unwrap();
            api::serve(listener, state).await.expect("serve");
        });
    });
    rx.recv().expect("server address")
}
