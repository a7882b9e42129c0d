//! `--model` as a directory or a Hugging Face Hub id (`bert-base-uncased`, `org/name`, `org/name@revision`).
//!
//! Ids resolve through the standard Hugging Face cache with the `hf-hub` crate (feature `hub`, on by default):
//! `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`; `HF_ENDPOINT` replaces
//! `https://huggingface.co`. With `HF_HUB_OFFLINE=1`, or when the Hub cannot be reached, only the cache is used,
//! and a file it lacks is an error that names it. A directory on disk always wins over an id of the same name.

use std::path::{Path, PathBuf};

use crate::error::SesameError;

/// The files without which a directory is no model; of the tokenizer files (`export::TOKENIZER_FILES`, each
/// fetched where the Hub has it), one of `TOKENIZER` must be there.
#[cfg(feature = "hub")]
const REQUIRED: [&str; 2] = [sesame_core::io::CONFIG_FILE, sesame_core::io::WEIGHTS_FILE];
#[cfg(feature = "hub")]
const TOKENIZER: [&str; 2] = ["tokenizer.json", "vocab.txt"];

/// A Hub model id and its revision (`main` unless `@revision` is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubId {
    pub repo: String,
    pub revision: String,
}

impl HubId {
    /// `name`, `org/name`, each optionally `@revision`; `None` for anything that cannot be an id (an absolute or
    /// relative path with more than one separator, `.`/`..`, empty parts, characters the Hub does not allow).
    pub fn parse(text: &str) -> Option<HubId> {
        let (repo, revision) = match text.split_once('@') {
            Some((repo, rev)) if !rev.is_empty() => (repo, rev),
            Some(_) => return None,
            None => (text, "main"),
        };
        let parts: Vec<&str> = repo.split('/').collect();
        let valid = |p: &&str| {
            !p.is_empty()
                && *p != "."
                && *p != ".."
                && !p.starts_with('-')
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if parts.len() > 2 || !parts.iter().all(valid) {
            return None;
        }
        Some(HubId {
            repo: repo.to_string(),
            revision: revision.to_string(),
        })
    }
}

/// The model directory `--model` names: the directory itself when it exists, else the Hub id's snapshot in the
/// cache (downloading what is missing unless offline).
pub fn resolve_model(model: &str) -> Result<PathBuf, SesameError> {
    let path = Path::new(model);
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let not_found = |why: String| SesameError::Input {
        path: path.to_path_buf(),
        message: why,
    };
    let Some(id) = HubId::parse(model) else {
        return Err(not_found("no such model directory".into()));
    };
    resolve_id(&id).map_err(|why| {
        not_found(format!(
            "no such model directory, and as a Hub id ({} at {}): {why}",
            id.repo, id.revision
        ))
    })
}

/// The Hub client over `cache`, at `HF_ENDPOINT` where it is set, with download progress bars.
#[cfg(feature = "hub")]
fn hub_client(cache: &hf_hub::Cache) -> Result<hf_hub::api::sync::Api, String> {
    let mut builder = hf_hub::api::sync::ApiBuilder::from_cache(cache.clone()).with_progress(true);
    if let Ok(endpoint) = std::env::var("HF_ENDPOINT") {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_string());
    }
    builder
        .build()
        .map_err(|e| format!("cannot set up the Hub client: {e}"))
}

#[cfg(feature = "hub")]
fn resolve_id(id: &HubId) -> Result<PathBuf, String> {
    use hf_hub::{Cache, Repo, RepoType};

    let cache = match std::env::var_os("HF_HUB_CACHE") {
        Some(dir) => Cache::new(PathBuf::from(dir)),
        None => Cache::from_env(),
    };
    let repo = Repo::with_revision(id.repo.clone(), RepoType::Model, id.revision.clone());
    let cached = cache.repo(repo.clone());
    let offline =
        std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
    let api = if offline {
        None
    } else {
        Some(hub_client(&cache)?)
    };
    let mut unreachable: Option<String> = None;
    // Every file: from the cache, else downloaded; `Ok(None)` when the Hub says it does not exist.
    let mut fetch = |file: &str| -> Result<Option<PathBuf>, String> {
        if let Some(path) = cached.get(file) {
            return Ok(Some(path));
        }
        let Some(api) = api.as_ref().filter(|_| unreachable.is_none()) else {
            return Ok(None);
        };
        match api.repo(repo.clone()).download(file) {
            Ok(path) => Ok(Some(path)),
            Err(hf_hub::api::sync::ApiError::RequestError(e))
                if matches!(*e, ureq::Error::Status(404, _)) =>
            {
                Ok(None)
            }
            Err(hf_hub::api::sync::ApiError::RequestError(e))
                if matches!(*e, ureq::Error::Status(401 | 403, _)) =>
            {
                Err(format!(
                    "the Hub refused {file} ({e}); a gated or private model needs a token in HF_TOKEN's file"
                ))
            }
            Err(hf_hub::api::sync::ApiError::RequestError(e)) if matches!(*e, ureq::Error::Transport(_)) => {
                unreachable = Some(e.to_string());
                Ok(None)
            }
            Err(e) => Err(format!("cannot download {file}: {e}")),
        }
    };
    let mut missing = Vec::new();
    let mut dir: Option<PathBuf> = None;
    for file in REQUIRED {
        match fetch(file)? {
            Some(path) => dir = path.parent().map(Path::to_path_buf),
            None => missing.push(file.to_string()),
        }
    }
    let mut tokenizer = false;
    for file in sesame_train::export::TOKENIZER_FILES {
        tokenizer |= fetch(file)?.is_some() && TOKENIZER.contains(&file);
    }
    if !tokenizer {
        missing.push(TOKENIZER.join(" or "));
    }
    if !missing.is_empty() {
        let how = if offline {
            "HF_HUB_OFFLINE is set, so only the cache was read".to_string()
        } else if let Some(error) = unreachable {
            format!("the Hub could not be reached ({error}), so only the cache was read")
        } else {
            "the Hub does not have them (a model id, not a dataset; or a revision without them)"
                .to_string()
        };
        return Err(format!(
            "{} missing from {} ({how})",
            missing.join(", "),
            cache.path().display()
        ));
    }
    dir.ok_or_else(|| "no snapshot directory".to_string())
}

#[cfg(not(feature = "hub"))]
fn resolve_id(_id: &HubId) -> Result<PathBuf, String> {
    Err("this build of sesame has no Hub support (build it with the `hub` feature)".into())
}
