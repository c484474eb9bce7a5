//! Unit tests of the settings: layering, env overrides and errors that name the key.

use super::*;

fn load(vars: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    SettingsBuilder::with_vars(vars.iter().copied()).build()
}

fn empty_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

#[test]
fn defaults_load_from_the_embedded_files() {
    let dir = empty_dir();
    let s = Settings::builder()
        .config_dir(dir.path())
        .build()
        .expect("defaults load");
    assert_eq!(s.environment, Environment::Development);
    assert_eq!(s.server.host, "127.0.0.1");
    assert_eq!(s.server.port, 8080);
    assert_eq!(s.server.data_dir, PathBuf::from("data"));
    assert_eq!(s.server.shutdown_grace_secs, 10);
    assert_eq!(s.log.format, LogFormat::Pretty);
    assert_eq!(s.engine.kind, vision::EngineKind::Hybrid);
    assert_eq!(s.engine.primary, vision::EngineKind::Insightface);
    assert_eq!(s.engine.device, vision::Device::Auto);
    assert_eq!(s.engine.workers, 0);
    assert!(s.engine.worker_count() >= 1);
    assert_eq!(s.engine.threads_per_worker, 1);
    assert_eq!(s.engine.queue_capacity, 64);
    assert_eq!(s.engine.det_size, 320);
    assert!((s.engine.det_threshold - 0.5).abs() < 1e-6);
    assert!((s.engine.low_score - 0.6).abs() < 1e-6);
    assert!((s.engine.match_threshold - 0.35).abs() < 1e-6);
    // The built-in [video] section matches the vision policies' own defaults.
    assert_eq!(s.video.samples, 12);
    assert_eq!(s.video.limits(), vision::video::VideoLimits::default());
    assert_eq!(
        s.video.frame_quality(),
        vision::video::quality::FrameQualityPolicy::default()
    );
    assert_eq!(
        s.video.decision(s.engine.match_threshold),
        vision::decision::DecisionPolicy::default()
    );
    assert_eq!(s.engine.gpu_mem_limit_mb, 2048);
    assert!(s.engine.cuda_lib_dirs.is_empty());
    assert_eq!(s.models.dir, PathBuf::from("models/files"));
    assert_eq!(s.models.manifest, PathBuf::from("models/manifest.toml"));
    assert_eq!(
        s.models.yunet_dirs,
        vec![
            PathBuf::from("../shared/models"),
            PathBuf::from("models/files")
        ]
    );
    assert_eq!(
        s.models.ort_dylib,
        PathBuf::from("models/files/libonnxruntime.so.1.31.1")
    );
    assert_eq!(s.images.max_pixels, 40_000_000);
    assert_eq!(s.images.min_side, 32);
    assert!(s.admin.token.is_none());
    assert!(s.database.url.is_none());
    assert!(s.redis.url.is_none());
}

#[test]
fn repository_config_folder_loads_for_every_environment() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
    for env in ["development", "test"] {
        let s = SettingsBuilder::with_vars([("KYC_ENV", env), ("KYC_CONFIG_DIR", dir)])
            .build()
            .unwrap_or_else(|e| panic!("{env}: {e}"));
        assert_eq!(s.environment.as_str(), env);
        assert_eq!(s.config_dir.as_deref(), Some(Path::new(dir)));
    }
    let s = SettingsBuilder::with_vars([
        ("KYC_ENV", "production"),
        ("KYC_CONFIG_DIR", dir),
        ("KYC__ADMIN__TOKEN", "0123456789abcdef-long-enough"),
        (
            "KYC__SECURITY__MASTER_KEY",
            "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=",
        ),
        ("KYC__SERVER__PUBLIC_URL", "https://kyc.example.com/"),
    ])
    .build()
    .expect("production with a token, a master key and a public URL");
    assert_eq!(s.server.public_url, "https://kyc.example.com/");
    assert_eq!(s.server.host, "0.0.0.0");
    assert_eq!(s.log.format, LogFormat::Json);
    let test = load(&[("KYC_ENV", "test"), ("KYC_CONFIG_DIR", dir)]).expect("test env");
    assert_eq!(test.server.port, 0);
}

#[test]
fn environment_variables_override_the_files() {
    let dir = empty_dir();
    let s = Settings::builder()
        .config_dir(dir.path())
        .var("KYC__SERVER__PORT", "0")
        .var("KYC__SERVER__DATA_DIR", "/tmp/kyc-data")
        .var("KYC__ENGINE__DEVICE", "cuda")
        .var("KYC__ENGINE__MATCH_THRESHOLD", "0.42")
        .var("KYC__ENGINE__CUDA_LIB_DIRS", "/a,/b")
        .var("KYC__ADMIN__TOKEN", "0.10")
        .var("KYC__DATABASE__URL", "mysql://u:p@h/kyc")
        .var("ORT_DYLIB_PATH", "/opt/ort/libonnxruntime.so")
        .var("UNRELATED", "x")
        .build()
        .expect("overrides load");
    assert_eq!(s.server.port, 0);
    assert_eq!(s.server.data_dir, PathBuf::from("/tmp/kyc-data"));
    assert_eq!(s.engine.device, vision::Device::Cuda);
    assert!((s.engine.match_threshold - 0.42).abs() < 1e-6);
    assert_eq!(
        s.engine.cuda_lib_dirs,
        vec![PathBuf::from("/a"), PathBuf::from("/b")]
    );
    // A numeric-looking token stays a string.
    let token = s.admin.token.as_ref().expect("token");
    assert_eq!(token.expose_secret(), "0.10");
    assert_eq!(
        s.database
            .url
            .as_ref()
            .map(|u| u.expose_secret().to_owned()),
        Some("mysql://u:p@h/kyc".to_owned())
    );
    assert_eq!(
        s.models.ort_dylib,
        PathBuf::from("/opt/ort/libonnxruntime.so")
    );
}

#[test]
fn environment_file_overrides_base() {
    let dir = empty_dir();
    std::fs::write(
        dir.path().join("test.toml"),
        "[server]\nport = 9999\n[models]\nort_dylib = \"/x/libort.so\"\n",
    )
    .expect("write");
    let s = Settings::builder()
        .config_dir(dir.path())
        .var("KYC_ENV", "test")
        .build()
        .expect("loads");
    assert_eq!(s.environment, Environment::Test);
    assert_eq!(s.server.port, 9999);
    assert_eq!(s.models.ort_dylib, PathBuf::from("/x/libort.so"));
    // Keys the file does not set keep their base value.
    assert_eq!(s.server.host, "127.0.0.1");
}

#[test]
fn a_bad_value_names_its_key() {
    let dir = empty_dir();
    let err = Settings::builder()
        .config_dir(dir.path())
        .var("KYC__SERVER__PORT", "abc")
        .build()
        .expect_err("abc is no port");
    let msg = err.to_string();
    assert!(msg.contains("server.port"), "{msg}");

    let err = Settings::builder()
        .config_dir(dir.path())
        .var("KYC__SERVER__PORT", "70000")
        .build()
        .expect_err("70000 is no port");
    assert!(err.to_string().contains("server.port"), "{err}");

    let err = Settings::builder()
        .config_dir(dir.path())
        .var("KYC__ENGINE__DEVICE", "tpu")
        .build()
        .expect_err("tpu is no device");
    assert!(err.to_string().contains("engine.device"), "{err}");
}

#[test]
fn a_bad_file_value_names_its_key() {
    let dir = empty_dir();
    std::fs::write(
        dir.path().join("development.toml"),
        "[log]\nformat = \"xml\"\n",
    )
    .expect("write");
    let err = Settings::builder()
        .config_dir(dir.path())
        .build()
        .expect_err("xml is no format");
    assert!(err.to_string().contains("log.format"), "{err}");
}

#[test]
fn unknown_keys_are_refused() {
    let dir = empty_dir();
    let err = Settings::builder()
        .config_dir(dir.path())
        .var("KYC__SERVER__PROT", "1")
        .build()
        .expect_err("typo");
    assert!(err.to_string().contains("prot"), "{err}");
}

#[test]
fn validation_names_the_key() {
    let dir = empty_dir();
    for (var, value, key) in [
        (
            "KYC__ENGINE__MATCH_THRESHOLD",
            "1.5",
            "engine.match_threshold",
        ),
        ("KYC__ENGINE__DET_THRESHOLD", "-0.1", "engine.det_threshold"),
        ("KYC__ENGINE__LOW_SCORE", "2", "engine.low_score"),
        ("KYC__ENGINE__WORKERS", "100000", "engine.workers"),
        (
            "KYC__ENGINE__THREADS_PER_WORKER",
            "0",
            "engine.threads_per_worker",
        ),
        ("KYC__ENGINE__QUEUE_CAPACITY", "0", "engine.queue_capacity"),
        ("KYC__ENGINE__DET_SIZE", "641", "engine.det_size"),
        ("KYC__IMAGES__MIN_SIDE", "0", "images.min_side"),
        ("KYC__VIDEO__SAMPLES", "0", "video.samples"),
        ("KYC__VIDEO__MIN_FRAMES", "13", "video.min_frames"),
        ("KYC__VIDEO__MAX_DURATION_S", "-1", "video.max_duration_s"),
        ("KYC__VIDEO__REVIEW_MARGIN", "2", "video.review_margin"),
        ("KYC__VIDEO__MIN_SIDE", "5000", "video.min_side"),
        ("KYC__LOG__LEVEL", "kyc=loud", "log.level"),
        (
            "KYC__SERVER__SHUTDOWN_GRACE_SECS",
            "100000",
            "server.shutdown_grace_secs",
        ),
    ] {
        let err = Settings::builder()
            .config_dir(dir.path())
            .var(var, value)
            .build()
            .expect_err(var);
        assert!(err.to_string().contains(key), "{var}={value}: {err}");
    }
}

#[test]
fn production_requires_an_admin_token() {
    let dir = empty_dir();
    let err = Settings::builder()
        .config_dir(dir.path())
        .var("KYC_ENV", "production")
        .build()
        .expect_err("no token");
    assert!(err.to_string().contains("admin.token"), "{err}");
    let err = Settings::builder()
        .config_dir(dir.path())
        .var("KYC_ENV", "production")
        .var("KYC__ADMIN__TOKEN", "short")
        .build()
        .expect_err("short token");
    assert!(err.to_string().contains("admin.token"), "{err}");
}

#[test]
fn production_requires_a_good_master_key_and_names_its_variable() {
    let dir = empty_dir();
    let production = || {
        Settings::builder()
            .config_dir(dir.path())
            .var("KYC_ENV", "production")
            .var("KYC__ADMIN__TOKEN", "0123456789abcdef-long-enough")
            .var("KYC__SERVER__PUBLIC_URL", "https://kyc.example.com")
    };
    let err = production().build().expect_err("no master key");
    let text = err.to_string();
    assert!(text.contains("security.master_key"), "{text}");
    assert!(text.contains(MASTER_KEY_VAR), "{text}");
    let bad_key = "AAECAwQFBgcICQoLDA0ODw=="; // 16 bytes
    for bad in [bad_key, "not a key!", "   "] {
        let err = production()
            .var("KYC__SECURITY__MASTER_KEY", bad)
            .build()
            .expect_err("bad master key");
        let text = err.to_string();
        assert!(text.contains(MASTER_KEY_VAR), "{bad:?}: {text}");
        // The bad value itself is not echoed.
        assert!(!text.contains(bad_key), "{text}");
    }
    let key = crate::crypto::MasterKey::generate().expect("key");
    let s = production()
        .var("KYC__SECURITY__MASTER_KEY", key.to_base64().as_str())
        .build()
        .expect("a good key");
    let loaded = s.security.master_key().expect("parses").expect("set");
    assert_eq!(loaded.id(), key.id());
    // Development without a key is fine (the data folder keeps one); a bad one is not.
    let dev = Settings::builder()
        .config_dir(dir.path())
        .build()
        .expect("development without a key");
    assert!(dev.security.master_key.is_none());
    let err = Settings::builder()
        .config_dir(dir.path())
        .var("KYC__SECURITY__MASTER_KEY", bad_key)
        .build()
        .expect_err("a bad key in development");
    assert!(err.to_string().contains(MASTER_KEY_VAR), "{err}");
}

#[test]
fn unknown_environment_and_missing_config_dir_are_refused() {
    let err = load(&[("KYC_ENV", "staging")]).expect_err("staging");
    assert!(err.to_string().contains("KYC_ENV"), "{err}");
    let err = load(&[("KYC_CONFIG_DIR", "/nonexistent/kyc/config")]).expect_err("missing dir");
    assert!(err.to_string().contains("KYC_CONFIG_DIR"), "{err}");
}

#[test]
fn secrets_are_not_printed() {
    let dir = empty_dir();
    let s = Settings::builder()
        .config_dir(dir.path())
        .var("KYC__ADMIN__TOKEN", "super-secret-token-value")
        .var(
            "KYC__SECURITY__MASTER_KEY",
            "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA=",
        )
        .build()
        .expect("loads");
    let shown = format!("{s:?}");
    assert!(!shown.contains("super-secret-token-value"));
    assert!(!shown.contains("q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA"));
}

#[test]
fn empty_folders_resolve_to_the_home() {
    let dir = empty_dir();
    let home_dir = dir.path().join("kyc");
    let home = Home {
        dir: home_dir.clone(),
        source: home::HomeSource::KycHome,
        checkout: false,
    };
    let s = Settings::builder()
        .home(home.clone())
        .build()
        .expect("loads");
    assert_eq!(s.server.data_dir, home_dir.join("data"));
    assert_eq!(s.models.dir, home_dir.join("models"));
    assert_eq!(s.models.yunet_dirs, vec![home_dir.join("models")]);
    assert_eq!(
        s.models.ort_dylib,
        home_dir.join("models/libonnxruntime.so.1.31.1")
    );
    assert_eq!(s.home, home);
    // Set values stay as they are.
    let s = Settings::builder()
        .home(home)
        .var("KYC__MODELS__DIR", "/opt/models")
        .var("KYC__SERVER__DATA_DIR", "/srv/data")
        .build()
        .expect("loads");
    assert_eq!(s.models.dir, PathBuf::from("/opt/models"));
    assert_eq!(s.models.yunet_dirs, vec![PathBuf::from("/opt/models")]);
    assert_eq!(s.server.data_dir, PathBuf::from("/srv/data"));
}

#[test]
fn the_cluster_role_and_its_job_settings_load_and_bad_ones_name_their_key() {
    let s = load(&[("KYC__CLUSTER__ROLE", "engine")]).expect("loads");
    assert_eq!(s.cluster.role, Role::Engine);
    assert!(!s.cluster.role.serves_api() && s.cluster.role.runs_engines());
    let s = load(&[]).expect("loads");
    assert_eq!(s.cluster.role, Role::All);
    assert_eq!(s.cluster.max_deliveries, 3);
    assert!(matches!("API".parse::<Role>(), Ok(Role::Api)));
    assert!("worker".parse::<Role>().is_err());
    let e = load(&[("KYC__CLUSTER__ROLE", "worker")]).expect_err("unknown role");
    assert!(e.to_string().contains("role"), "{e}");
    for (key, value, named) in [
        ("KYC__CLUSTER__BATCH", "0", "cluster.batch"),
        (
            "KYC__CLUSTER__MAX_DELIVERIES",
            "0",
            "cluster.max_deliveries",
        ),
        (
            "KYC__CLUSTER__VISIBILITY_TIMEOUT_SECS",
            "0.1",
            "cluster.visibility_timeout_secs",
        ),
        ("KYC__CLUSTER__NODE_NAME", "a b", "cluster.node_name"),
    ] {
        let e = load(&[(key, value)]).expect_err(key);
        assert!(e.to_string().contains(named), "{e}");
    }
}
