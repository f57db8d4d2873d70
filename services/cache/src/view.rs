//! A cached view: one JSON array, serialized once, stored beside its gzip and
//! brotli encodings and an ETag, so a reader never serializes or compresses.
//! In Redis a view is ONE hash written by ONE `HSET`: readers see the old
//! view or the new one, never a mix and never an empty gap.

use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("serializing a view item: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("compressing a view: {0}")]
    Compress(#[from] std::io::Error),
    #[error("a stored view is malformed: {0}")]
    Malformed(&'static str),
}

/// Which body a client asked for, by `Accept-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    Identity,
    Gzip,
    Brotli,
}

impl Encoding {
    pub fn header_value(self) -> Option<&'static str> {
        match self {
            Self::Identity => None,
            Self::Gzip => Some("gzip"),
            Self::Brotli => Some("br"),
        }
    }
}

/// A brotli encoder's match finder is sized by its quality, not by the body:
/// 16 MiB at quality 8 (32 MiB at 9, which heaptrack showed as half of a
/// replica's 130 MB peak when two crawls built views at once). Held while a
/// thorough view is compressed, so a replica holds one such table whatever
/// its worker count; a crawl's three builds take tens of milliseconds each.
/// (Quality 9 made bodies 1.3% smaller; 10 and 11 use a small match finder
/// but take 15 to 40 times as long.)
static THOROUGH_BUILDS: Mutex<()> = Mutex::new(());

/// How hard a view's bodies are compressed when it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// brotli 8 and gzip 6: what a crawl stores, compressed once for many
    /// reads (about 20 ms for a 500-item view here). One at a time per
    /// process: see [`THOROUGH_BUILDS`].
    Thorough,
    /// brotli 1 and gzip 1 (a few ms; bodies about a quarter larger): a view
    /// built while a reader waits (a Redis miss), which the topic's next
    /// crawl replaces with a thorough one. The plain body and the ETag are
    /// the same either way.
    Quick,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct View {
    /// A strong ETag, quotes included, ready for the header.
    pub etag: Bytes,
    pub plain: Bytes,
    pub gzip: Bytes,
    pub brotli: Bytes,
    /// `ends[i]` is the byte offset just past item `i` in `plain`: how `?limit=N`
    /// is answered without parsing.
    pub ends: Arc<[u32]>,
}

impl View {
    pub fn from_items<T: Serialize>(items: &[T]) -> Result<Self, ViewError> {
        Self::from_items_with(items, Compression::Thorough)
    }

    pub fn from_items_with<T: Serialize>(
        items: &[T],
        compression: Compression,
    ) -> Result<Self, ViewError> {
        let mut plain = Vec::with_capacity(items.len() * 512 + 2);
        let mut ends = Vec::with_capacity(items.len());
        plain.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                plain.push(b',');
            }
            serde_json::to_writer(&mut plain, item)?;
            ends.push(
                u32::try_from(plain.len()).map_err(|_| ViewError::Malformed("view over 4 GiB"))?,
            );
        }
        plain.push(b']');
        Self::from_parts(Bytes::from(plain), ends.into(), compression)
    }

    fn from_parts(
        plain: Bytes,
        ends: Arc<[u32]>,
        compression: Compression,
    ) -> Result<Self, ViewError> {
        let (gzip_level, brotli_quality) = match compression {
            Compression::Thorough => (6, 8),
            Compression::Quick => (1, 1),
        };
        let _one_thorough_build = (compression == Compression::Thorough).then(|| {
            THOROUGH_BUILDS
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        });
        let brotli_window = window_for(plain.len());
        // gzip on a second thread while brotli and the digest run on this
        // one: a reader waiting on a quick view waits for the slower of the
        // two rather than their sum.
        let (gzip, brotli, etag) = std::thread::scope(|scope| {
            let gzip = scope.spawn(|| gzip(&plain, gzip_level));
            let brotli = brotli(&plain, brotli_quality, brotli_window);
            let digest = Sha256::digest(&plain);
            let etag = Bytes::from(format!("\"{}\"", hex::encode(&digest[..12])));
            let gzip = gzip
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (gzip, brotli, etag)
        });
        let (gzip, brotli) = (gzip?, brotli?);
        Ok(Self {
            etag,
            plain,
            gzip,
            brotli,
            ends,
        })
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    pub fn body(&self, encoding: Encoding) -> Bytes {
        match encoding {
            Encoding::Identity => self.plain.clone(),
            Encoding::Gzip => self.gzip.clone(),
            Encoding::Brotli => self.brotli.clone(),
        }
    }

    /// The JSON array of the first `limit` items (all of them when `limit` is larger).
    pub fn first(&self, limit: usize) -> Bytes {
        if limit >= self.len() {
            return self.plain.clone();
        }
        if limit == 0 {
            return Bytes::from_static(b"[]");
        }
        let end = self.ends[limit - 1] as usize;
        let mut out = BytesMut::with_capacity(end + 1);
        out.put_slice(&self.plain[..end]);
        out.put_u8(b']');
        out.freeze()
    }

    /// The first `limit` items in `encoding`, cut from the plain body and,
    /// unless `Identity`, compressed now and quickly (gzip 1, brotli 1: what
    /// the response compression layer spends on a body), so the caller
    /// keeps the result rather than asking again.
    pub fn first_encoded(&self, limit: usize, encoding: Encoding) -> Result<Bytes, ViewError> {
        let plain = self.first(limit);
        match encoding {
            Encoding::Identity => Ok(plain),
            Encoding::Gzip => gzip(&plain, 1),
            Encoding::Brotli => brotli(&plain, 1, window_for(plain.len())),
        }
    }

    /// The item offsets as stored: little-endian u32s.
    pub fn ends_to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.ends.len() * 4);
        for end in self.ends.iter() {
            out.put_u32_le(*end);
        }
        out.freeze()
    }

    /// Rebuilds a view read back from storage (Redis, Postgres), checking it hangs together.
    pub fn from_stored(
        etag: Bytes,
        plain: Bytes,
        gzip: Bytes,
        brotli: Bytes,
        ends: &[u8],
    ) -> Result<Self, ViewError> {
        if !ends.len().is_multiple_of(4) {
            return Err(ViewError::Malformed("item offsets"));
        }
        let ends: Arc<[u32]> = ends
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let last_ok = ends.last().is_none_or(|&end| (end as usize) < plain.len());
        if etag.is_empty()
            || plain.first() != Some(&b'[')
            || plain.last() != Some(&b']')
            || !last_ok
        {
            return Err(ViewError::Malformed("body"));
        }
        Ok(Self {
            etag,
            plain,
            gzip,
            brotli,
            ends,
        })
    }
}

/// A brotli window just large enough for `len` bytes compresses them as well
/// as the largest would, and the encoder's buffers shrink with it (a 4 MiB
/// window for a 250 kB view was most of a build's memory).
fn window_for(len: usize) -> u32 {
    len.max(1)
        .next_power_of_two()
        .trailing_zeros()
        .clamp(16, 22)
}

fn gzip(plain: &[u8], level: u32) -> Result<Bytes, ViewError> {
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(plain.len() / 4),
        flate2::Compression::new(level),
    );
    gz.write_all(plain)?;
    Ok(Bytes::from(gz.finish()?))
}

fn brotli(plain: &[u8], quality: u32, window: u32) -> Result<Bytes, ViewError> {
    let mut br = Vec::with_capacity(plain.len() / 5);
    {
        let mut writer = brotli::CompressorWriter::new(&mut br, 16 * 1024, quality, window);
        writer.write_all(plain)?;
    }
    Ok(Bytes::from(br))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[derive(Serialize)]
    struct Item {
        id: u32,
        name: String,
    }

    fn items(n: u32) -> Vec<Item> {
        (0..n)
            .map(|id| Item {
                id,
                name: format!("repo-{id}"),
            })
            .collect()
    }

    fn assert_encodings_decode_to_plain(view: &View) {
        let mut gunzipped = Vec::new();
        flate2::read::GzDecoder::new(&view.gzip[..])
            .read_to_end(&mut gunzipped)
            .unwrap();
        assert_eq!(gunzipped, view.plain);
        let mut unbrotlied = Vec::new();
        brotli::Decompressor::new(&view.brotli[..], 4096)
            .read_to_end(&mut unbrotlied)
            .unwrap();
        assert_eq!(unbrotlied, view.plain);
    }

    #[test]
    fn bodies_decode_to_the_same_json() {
        let view = View::from_items(&items(300)).unwrap();
        let parsed: serde_json::Value = serde_json::from_slice(&view.plain).unwrap();
        assert_eq!(parsed.as_array().unwrap().len(), 300);
        assert_encodings_decode_to_plain(&view);
        assert!(view.brotli.len() < view.plain.len() / 3);
    }

    #[test]
    fn quick_bodies_decode_to_the_same_json_under_the_same_etag() {
        let thorough = View::from_items(&items(300)).unwrap();
        let quick = View::from_items_with(&items(300), Compression::Quick).unwrap();
        assert_eq!(quick.etag, thorough.etag);
        assert_eq!(quick.plain, thorough.plain);
        assert_encodings_decode_to_plain(&quick);
    }

    #[test]
    fn first_n_is_a_valid_prefix() {
        let view = View::from_items(&items(50)).unwrap();
        for n in [0usize, 1, 2, 49, 50, 51, 500] {
            let parsed: Vec<serde_json::Value> = serde_json::from_slice(&view.first(n)).unwrap();
            assert_eq!(parsed.len(), n.min(50));
            if n > 0 && n <= 50 {
                assert_eq!(parsed[n - 1]["id"], (n - 1) as u64);
            }
        }
    }

    #[test]
    fn an_encoded_prefix_decodes_to_the_plain_prefix() {
        let view = View::from_items(&items(50)).unwrap();
        let gz = view.first_encoded(7, Encoding::Gzip).unwrap();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, view.first(7));
        let br = view.first_encoded(7, Encoding::Brotli).unwrap();
        let mut plain = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, view.first(7));
        assert_eq!(
            view.first_encoded(7, Encoding::Identity).unwrap(),
            view.first(7)
        );
    }

    #[test]
    fn etag_follows_content() {
        let a = View::from_items(&items(10)).unwrap();
        let b = View::from_items(&items(10)).unwrap();
        let c = View::from_items(&items(11)).unwrap();
        assert_eq!(a.etag, b.etag);
        assert_ne!(a.etag, c.etag);
        assert!(a.etag.starts_with(b"\"") && a.etag.ends_with(b"\""));
    }

    #[test]
    fn an_empty_view_is_an_empty_array() {
        let view = View::from_items::<Item>(&[]).unwrap();
        assert_eq!(&view.plain[..], b"[]");
        assert_eq!(&view.first(5)[..], b"[]");
    }

    #[test]
    fn stored_round_trip_and_corruption_is_refused() {
        let view = View::from_items(&items(20)).unwrap();
        let back = View::from_stored(
            view.etag.clone(),
            view.plain.clone(),
            view.gzip.clone(),
            view.brotli.clone(),
            &view.ends_to_bytes(),
        )
        .unwrap();
        assert_eq!(back, view);
        assert!(
            View::from_stored(
                view.etag.clone(),
                view.plain.slice(..10),
                view.gzip.clone(),
                view.brotli.clone(),
                &view.ends_to_bytes()
            )
            .is_err()
        );
        assert!(
            View::from_stored(
                view.etag.clone(),
                view.plain.clone(),
                view.gzip.clone(),
                view.brotli.clone(),
                &[1, 2, 3]
            )
            .is_err()
        );
    }
}
