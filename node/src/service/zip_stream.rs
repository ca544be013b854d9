//! A ZIP archive written as a stream of chunks, never whole in memory: the
//! blobs are read one after the other (two ahead of the writer), compressed on
//! a blocking thread by the `zip` crate, and handed over in chunks of a few
//! hundred KiB through a bounded channel, so a slow client slows the reads
//! down instead of filling the memory.
//!
//! The `zip` crate writes each file's header, then its data, then seeks back
//! to the header to fill in the sizes and CRC. [`Window`] keeps the bytes of
//! the file being written (and of small files before it) until the crate
//! flushes at the end of a file; only then does it send them, so the crate
//! never seeks into bytes already gone.
//!
//! A *media* archive (`/media`, `/tools/create-media`) also lists every file
//! in a DICOMDIR ([`crate::dicom::dicomdir`]), written last, as Orthanc does:
//! each file is parsed as it goes by, only its directory record is kept.

use std::io::{self, Seek, SeekFrom, Write};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::mpsc;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::zip_layout::ArchiveEntry;
use super::Archive;
use crate::dicom::dicomdir::DicomDir;
use crate::dicom::reader::read_file;

/// Bytes gathered before a flush sends them (many small files make one chunk).
const CHUNK: usize = 256 * 1024;
/// Chunks waiting for the client, and blobs read ahead of the writer.
const QUEUE: usize = 2;
/// Deflate level: the fastest. Orthanc deflates at zlib's default (6), which
/// makes its archives CPU-bound (about 40 MB/s on a 2-core VM); level 1 is
/// several times faster and loses little on DICOM images.
const LEVEL: i64 = 1;

/// The `Write + Seek` the ZIP is written to: a window of the bytes not yet
/// sent, from absolute offset `base`.
struct Window {
    base: u64,
    buf: Vec<u8>,
    /// Absolute write position.
    pos: u64,
    out: mpsc::Sender<io::Result<Bytes>>,
}

impl Window {
    /// Sends everything gathered so far.
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.buf);
        self.base += chunk.len() as u64;
        self.out
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

impl Write for Window {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let at = (self.pos - self.base) as usize;
        let overlap = data.len().min(self.buf.len() - at);
        self.buf[at..at + overlap].copy_from_slice(&data[..overlap]);
        self.buf.extend_from_slice(&data[overlap..]);
        self.pos += data.len() as u64;
        Ok(data.len())
    }

    /// The `zip` crate flushes after each file: send once a chunk is full.
    fn flush(&mut self) -> io::Result<()> {
        if self.buf.len() >= CHUNK && self.pos == self.base + self.buf.len() as u64 {
            self.send()?;
        }
        Ok(())
    }
}

/// The `zip` crate only offers `set_flush_on_finish_file` on readable
/// writers; it reads back only to copy files within an archive, which this
/// module never asks for.
impl io::Read for Window {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "a streamed archive cannot be read back",
        ))
    }
}

impl Seek for Window {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let end = self.base + self.buf.len() as u64;
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => end.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match target {
            Some(t) if (self.base..=end).contains(&t) => {
                self.pos = t;
                Ok(t)
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "cannot seek into bytes already sent",
            )),
        }
    }
}

fn now() -> zip::DateTime {
    use chrono::{Datelike, Timelike};
    let now = chrono::Local::now().naive_local();
    zip::DateTime::from_date_and_time(
        now.year().clamp(1980, 2107) as u16,
        now.month() as u8,
        now.day() as u8,
        now.hour() as u8,
        now.minute() as u8,
        now.second() as u8,
    )
    .unwrap_or_default()
}

/// What kind of archive to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZipKind {
    /// The files only.
    Plain,
    /// The files and a DICOMDIR; `extended` adds Orthanc's type 3 attributes.
    Media { extended: bool },
}

/// Writes the entries whose bytes arrive on `blobs` as one ZIP into `window`.
fn write_zip(
    window: Window,
    mut blobs: mpsc::Receiver<super::Result<(ArchiveEntry, Bytes)>>,
    kind: ZipKind,
) -> io::Result<()> {
    let mut dicomdir = match kind {
        ZipKind::Plain => None,
        ZipKind::Media { extended } => Some(DicomDir::new(extended)),
    };
    let mut zip = ZipWriter::new(window);
    zip.set_flush_on_finish_file(true);
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(LEVEL))
        .last_modified_time(now());
    while let Some(next) = blobs.blocking_recv() {
        let (entry, bytes) = next.map_err(io::Error::other)?;
        if let Some(dir) = &mut dicomdir {
            let file = read_file(&bytes).map_err(io::Error::other)?;
            dir.add(&entry.path.replace('/', "\\"), &file)
                .map_err(io::Error::other)?;
        }
        let options = options.large_file(bytes.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(entry.path, options)
            .map_err(io::Error::other)?;
        zip.write_all(&bytes)?;
    }
    if let Some(dir) = dicomdir {
        zip.start_file("DICOMDIR", options)
            .map_err(io::Error::other)?;
        zip.write_all(&dir.encode())?;
    }
    let mut window = zip.finish().map_err(io::Error::other)?;
    window.send()
}

impl Archive {
    /// The ZIP archive of `entries`, as a stream of chunks. Each file is the
    /// instance's blob as [`Archive::read_blob`] gives it; a blob that cannot
    /// be read ends the stream with an error (the client sees a truncated
    /// archive, never a complete one with a file missing or damaged).
    pub fn zip_stream(
        &self,
        entries: Vec<ArchiveEntry>,
        kind: ZipKind,
    ) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let (out, chunks) = mpsc::channel::<io::Result<Bytes>>(QUEUE);
        let (blob_tx, blob_rx) = mpsc::channel(QUEUE);
        let archive = self.clone();
        tokio::spawn(async move {
            for entry in entries {
                let read = archive.read_stored(&entry.hash, entry.compressed).await;
                let failed = read.is_err();
                if blob_tx
                    .send(read.map(|bytes| (entry, bytes)))
                    .await
                    .is_err()
                    || failed
                {
                    break;
                }
            }
        });
        let errors = out.clone();
        tokio::task::spawn_blocking(move || {
            let window = Window {
                base: 0,
                buf: Vec::with_capacity(CHUNK * 2),
                pos: 0,
                out,
            };
            if let Err(e) = write_zip(window, blob_rx, kind) {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    tracing::warn!(error = %e, "archive aborted");
                    let _ = errors.blocking_send(Err(e));
                }
            }
        });
        futures::stream::unfold(chunks, |mut chunks| async move {
            chunks.recv().await.map(|c| (c, chunks))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_sends_what_was_written_in_order() {
        let (out, mut rx) = mpsc::channel(16);
        let mut w = Window {
            base: 0,
            buf: Vec::new(),
            pos: 0,
            out,
        };
        w.write_all(b"header....").unwrap();
        w.write_all(&vec![7; CHUNK]).unwrap();
        let end = w.stream_position().unwrap();
        w.seek(SeekFrom::Start(6)).unwrap();
        w.write_all(b"SIZE").unwrap();
        w.seek(SeekFrom::Start(end)).unwrap();
        w.flush().unwrap();
        assert!(w.seek(SeekFrom::Start(3)).is_err(), "sent bytes are gone");
        w.write_all(b"tail").unwrap();
        w.send().unwrap();
        drop(w);
        let mut all = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            all.extend_from_slice(&chunk.unwrap());
        }
        let mut expected = b"headerSIZE".to_vec();
        expected.extend(vec![7; CHUNK]);
        expected.extend(b"tail");
        assert_eq!(all, expected);
    }

    #[test]
    fn a_streamed_zip_reads_back() {
        let (out, mut rx) = mpsc::channel(64);
        let (tx, blobs) = mpsc::channel(8);
        let files: Vec<(String, Vec<u8>)> = vec![
            (
                "a/b/CT000000.dcm".into(),
                (0..600_000u32).map(|i| (i % 251) as u8).collect(),
            ),
            ("a/b/CT000001.dcm".into(), b"small".to_vec()),
            ("a/c/00000000.dcm".into(), Vec::new()),
        ];
        for (path, bytes) in &files {
            let entry = ArchiveEntry {
                path: path.clone(),
                instance: String::new(),
                hash: String::new(),
                compressed: false,
                size: 0,
            };
            tx.blocking_send(Ok((entry, Bytes::from(bytes.clone()))))
                .unwrap();
        }
        drop(tx);
        write_zip(
            Window {
                base: 0,
                buf: Vec::new(),
                pos: 0,
                out,
            },
            blobs,
            ZipKind::Plain,
        )
        .unwrap();
        let mut zip = Vec::new();
        while let Ok(chunk) = rx.try_recv() {
            zip.extend_from_slice(&chunk.unwrap());
        }
        let mut archive = zip::ZipArchive::new(io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), files.len());
        for (i, (path, bytes)) in files.iter().enumerate() {
            let mut file = archive.by_index(i).unwrap();
            assert_eq!(file.name(), path);
            let mut read = Vec::new();
            io::Read::read_to_end(&mut file, &mut read).unwrap();
            assert_eq!(&read, bytes);
        }
    }
}
