//! WebDAV's `uploads` folder (Orthanc 1.10.1's `WebDavStorage` in memory):
//! a client creates folders (MKCOL) and writes files (PUT) there; each
//! non-empty file is then ingested in the background, as a DICOM file or a
//! ZIP of DICOM files, and removed from the folder whatever the outcome (a
//! file that is not DICOM is only logged, as Orthanc does). Folders stay until
//! deleted. The folder is local to the node that received the files; what is
//! ingested is replicated as any other instance.

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::Mutex;

use bytes::Bytes;
use chrono::{DateTime, Utc};

use super::{Archive, Origin, ServiceError};

/// A file or folder of the uploads folder.
#[derive(Debug)]
enum Item {
    Folder(Folder),
    File { bytes: Bytes, time: DateTime<Utc> },
}

#[derive(Debug, Default)]
struct Folder {
    items: BTreeMap<String, Item>,
    time: Option<DateTime<Utc>>,
}

/// What a listing shows of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadEntry {
    pub name: String,
    /// `None` for a folder.
    pub size: Option<u64>,
    pub time: DateTime<Utc>,
}

/// The uploads folder of one node.
#[derive(Debug, Default)]
pub struct Uploads {
    root: Mutex<Folder>,
}

impl Folder {
    fn folder(&self, path: &[String]) -> Option<&Folder> {
        match path.split_first() {
            None => Some(self),
            Some((name, rest)) => match self.items.get(name) {
                Some(Item::Folder(f)) => f.folder(rest),
                _ => None,
            },
        }
    }

    fn folder_mut(&mut self, path: &[String]) -> Option<&mut Folder> {
        match path.split_first() {
            None => Some(self),
            Some((name, rest)) => match self.items.get_mut(name) {
                Some(Item::Folder(f)) => f.folder_mut(rest),
                _ => None,
            },
        }
    }
}

impl Uploads {
    pub fn is_folder(&self, path: &[String]) -> bool {
        self.root.lock().unwrap().folder(path).is_some()
    }

    /// The items of the folder at `path`, by name; `None` if it is no folder.
    pub fn list(&self, path: &[String]) -> Option<Vec<UploadEntry>> {
        let root = self.root.lock().unwrap();
        let folder = root.folder(path)?;
        let now = Utc::now();
        Some(
            folder
                .items
                .iter()
                .map(|(name, item)| match item {
                    Item::Folder(f) => UploadEntry {
                        name: name.clone(),
                        size: None,
                        time: f.time.unwrap_or(now),
                    },
                    Item::File { bytes, time } => UploadEntry {
                        name: name.clone(),
                        size: Some(bytes.len() as u64),
                        time: *time,
                    },
                })
                .collect(),
        )
    }

    /// The file at `path`, with its time.
    pub fn file(&self, path: &[String]) -> Option<(Bytes, DateTime<Utc>)> {
        let (name, parent) = path.split_last()?;
        let root = self.root.lock().unwrap();
        match root.folder(parent)?.items.get(name) {
            Some(Item::File { bytes, time }) => Some((bytes.clone(), *time)),
            _ => None,
        }
    }

    /// Writes a file into an existing folder (not over a folder).
    fn store(&self, path: &[String], bytes: Bytes) -> bool {
        let Some((name, parent)) = path.split_last() else {
            return false;
        };
        let mut root = self.root.lock().unwrap();
        let Some(folder) = root.folder_mut(parent) else {
            return false;
        };
        if matches!(folder.items.get(name), Some(Item::Folder(_))) {
            return false;
        }
        let time = Utc::now();
        folder
            .items
            .insert(name.clone(), Item::File { bytes, time });
        true
    }

    /// MKCOL: a new folder in an existing one (false if the name is taken).
    pub fn create_folder(&self, path: &[String]) -> bool {
        let Some((name, parent)) = path.split_last() else {
            return false;
        };
        let mut root = self.root.lock().unwrap();
        let Some(folder) = root.folder_mut(parent) else {
            return false;
        };
        if folder.items.contains_key(name) {
            return false;
        }
        let sub = Folder {
            time: Some(Utc::now()),
            ..Folder::default()
        };
        folder.items.insert(name.clone(), Item::Folder(sub));
        true
    }

    /// Deletes a file or a folder with its content; false if nothing is there.
    pub fn delete(&self, path: &[String]) -> bool {
        let Some((name, parent)) = path.split_last() else {
            return false;
        };
        let mut root = self.root.lock().unwrap();
        root.folder_mut(parent)
            .and_then(|f| f.items.remove(name))
            .is_some()
    }

    /// Removes the file at `path` if it still holds `bytes`.
    fn remove_if_same(&self, path: &[String], bytes: &Bytes) {
        let Some((name, parent)) = path.split_last() else {
            return;
        };
        let mut root = self.root.lock().unwrap();
        if let Some(folder) = root.folder_mut(parent) {
            if matches!(folder.items.get(name), Some(Item::File { bytes: b, .. }) if b == bytes) {
                folder.items.remove(name);
            }
        }
    }
}

/// The regular files of a ZIP archive; `None` if `bytes` is not one.
fn unzip(bytes: &[u8]) -> Option<Vec<(String, Bytes)>> {
    if !bytes.starts_with(b"PK\x03\x04") {
        return None;
    }
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let mut files = Vec::new();
    for i in 0..zip.len() {
        let Ok(mut entry) = zip.by_index(i) else {
            continue;
        };
        let mut data = Vec::new();
        if entry.is_dir() || entry.read_to_end(&mut data).is_err() {
            continue;
        }
        files.push((entry.name().to_owned(), Bytes::from(data)));
    }
    Some(files)
}

impl Archive {
    /// The uploads folder of WebDAV.
    pub fn webdav_uploads(&self) -> &Uploads {
        &self.webdav_uploads
    }

    /// PUT into the uploads folder: false if the folder does not exist. A
    /// non-empty file is ingested in the background, then removed.
    pub fn webdav_upload(&self, path: Vec<String>, bytes: Bytes, origin: Origin) -> bool {
        if !self.webdav_uploads.store(&path, bytes.clone()) {
            return false;
        }
        if bytes.is_empty() {
            return true;
        }
        let archive = self.clone();
        tokio::spawn(async move {
            let files = unzip(&bytes).unwrap_or_else(|| vec![(path.join("/"), bytes.clone())]);
            for (name, file) in files {
                match archive.ingest(file, &origin).await {
                    Ok(outcome) => {
                        tracing::info!(file = %name, id = %outcome.ids.instance, "imported from webdav")
                    }
                    Err(ServiceError::BadDicom(e)) => {
                        tracing::warn!(file = %name, error = %e, "cannot import a webdav upload (not a DICOM file?)")
                    }
                    Err(e) => {
                        tracing::warn!(file = %name, error = %e, "cannot import a webdav upload")
                    }
                }
            }
            archive.webdav_uploads.remove_if_same(&path, &bytes);
        });
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Vec<String> {
        s.split('/')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn folders_and_files() {
        let u = Uploads::default();
        assert!(u.is_folder(&[]));
        assert!(!u.store(&p("a/f"), Bytes::from_static(b"x")), "no folder a");
        assert!(u.create_folder(&p("a")));
        assert!(!u.create_folder(&p("a")), "taken");
        assert!(u.store(&p("a/f"), Bytes::from_static(b"xy")));
        assert!(!u.store(&p("a"), Bytes::new()), "not over a folder");
        let list = u.list(&p("a")).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].name.as_str(), list[0].size), ("f", Some(2)));
        assert_eq!(u.file(&p("a/f")).unwrap().0, Bytes::from_static(b"xy"));
        assert!(u.list(&p("a/f")).is_none());
        u.remove_if_same(&p("a/f"), &Bytes::from_static(b"other"));
        assert!(u.file(&p("a/f")).is_some(), "rewritten since: kept");
        assert!(u.delete(&p("a")));
        assert!(!u.is_folder(&p("a")));
        assert!(!u.delete(&[]));
    }
}
