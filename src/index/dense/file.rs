//! The dense graph's file, `<basename>.hnsw.flat`: the graph as flat arrays
//! (hnsw_rs's `FlatGraph` plus the vectors), so reloading is one mapping
//! and two parallel passes instead of hnsw_rs's point-by-point reload
//! (44 s for a million points).
//!
//! Layout, little-endian, every section starting at a multiple of 8 bytes
//! so it can be borrowed from the mapping in place:
//!
//! | bytes | field |
//! |---|---|
//! | 8 | magic `ZCGRAPH\0` |
//! | 4, 4 | format version, dimension |
//! | 8 | points |
//! | 4 × 4 | layers used, max links (M), ef_construction, max layers |
//! | 8 | level scale (f64) |
//! | 8 × 3 | entry point's position, neighbour lists, links |
//! | 8 × layers | points per top layer |
//! | then | origin ids (u64), list lengths (u32), neighbour positions (u32), distances (f32), vectors (f32) |
//! | 8 | CRC-32 of every byte before it, then four zero bytes |
//!
//! The length the header implies must be the file's length and the CRC
//! must match; then `Hnsw::from_flat` checks every count and link. A
//! truncated or damaged file is an error, never a panic or a wrong graph.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use hnsw_rs::prelude::{FlatGraphView, Hnsw};

use super::DotDistance;

// The arrays are borrowed from the mapping as native integers and floats.
const _: () = assert!(
    cfg!(target_endian = "little"),
    "the graph file is little-endian"
);

const MAGIC: &[u8; 8] = b"ZCGRAPH\0";
const VERSION: u32 = 1;
const FIXED_HEADER: usize = 72;

pub const EXT: &str = "hnsw.flat";

fn padded(n: u64) -> u64 {
    n.div_ceil(8) * 8
}

/// Hashes and counts what passes through, so sections can be padded and
/// the trailer written without a second pass over the file.
struct Out<W: Write> {
    w: W,
    crc: crc32fast::Hasher,
    at: u64,
}

impl<W: Write> Out<W> {
    fn put(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.crc.update(b);
        self.at += b.len() as u64;
        self.w.write_all(b)
    }

    fn pad(&mut self) -> std::io::Result<()> {
        let n = (padded(self.at) - self.at) as usize;
        self.put(&[0u8; 8][..n])
    }
}

/// Writes `path`. The caller holds the graph exclusively.
pub fn write(
    hnsw: &Hnsw<'static, f32, DotDistance>,
    dim: usize,
    path: &Path,
) -> anyhow::Result<()> {
    let flat = hnsw.to_flat();
    let file = File::create(path)?;
    let mut out = Out {
        w: BufWriter::with_capacity(8 << 20, file),
        crc: crc32fast::Hasher::new(),
        at: 0,
    };
    out.put(MAGIC)?;
    out.put(&VERSION.to_le_bytes())?;
    out.put(&(dim as u32).to_le_bytes())?;
    out.put(&(flat.origin_ids.len() as u64).to_le_bytes())?;
    for v in [
        flat.layer_len.len(),
        flat.max_nb_connection,
        flat.ef_construction,
        flat.max_layer,
    ] {
        out.put(&(v as u32).to_le_bytes())?;
    }
    out.put(&flat.level_scale.to_le_bytes())?;
    out.put(&flat.entry.to_le_bytes())?;
    out.put(&(flat.list_len.len() as u64).to_le_bytes())?;
    out.put(&(flat.neighbours.len() as u64).to_le_bytes())?;
    out.put(bytemuck::cast_slice(&flat.layer_len))?;
    out.put(bytemuck::cast_slice(&flat.origin_ids))?;
    out.put(bytemuck::cast_slice(&flat.list_len))?;
    out.pad()?;
    out.put(bytemuck::cast_slice(&flat.neighbours))?;
    out.pad()?;
    out.put(bytemuck::cast_slice(&flat.distances))?;
    out.pad()?;
    let mut i = 0usize;
    hnsw.for_each_flat_vector(|origin, v| {
        if flat.origin_ids.get(i) != Some(&origin) || v.len() != dim {
            anyhow::bail!("the graph changed while it was written");
        }
        i += 1;
        out.put(bytemuck::cast_slice(v))?;
        Ok(())
    })?;
    if i != flat.origin_ids.len() {
        anyhow::bail!("the graph changed while it was written");
    }
    out.pad()?;
    let crc = out.crc.clone().finalize();
    out.put(&crc.to_le_bytes())?;
    out.put(&[0u8; 4])?;
    out.w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(())
}

/// Reads a header field; `at` has been checked against the header's length.
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

/// Loads `path`, which must hold a graph of dimension `dim`.
pub fn read(path: &Path, dim: usize) -> anyhow::Result<Hnsw<'static, f32, DotDistance>> {
    let file = File::open(path)?;
    // SAFETY: graph files are written under a temporary name and renamed,
    // never changed in place; the mapping is dropped before this returns.
    let map = unsafe { memmap2::Mmap::map(&file)? };
    let b: &[u8] = &map;
    let bad = |why: String| anyhow::anyhow!("graph file {}: {why}", path.display());
    if b.len() < FIXED_HEADER || &b[..8] != MAGIC {
        return Err(bad(format!("not a graph file ({} bytes)", b.len())));
    }
    let version = u32_at(b, 8);
    if version != VERSION {
        return Err(bad(format!(
            "format version {version}, this build reads {VERSION}"
        )));
    }
    let file_dim = u32_at(b, 12) as usize;
    if file_dim != dim {
        return Err(bad(format!("dimension {file_dim}, expected {dim}")));
    }
    let n = u64_at(b, 16);
    let nb_layer = u32_at(b, 24) as u64;
    let (max_nb_connection, ef_construction, max_layer) =
        (u32_at(b, 28), u32_at(b, 32), u32_at(b, 36));
    let level_scale = f64::from_le_bytes(b[40..48].try_into()?);
    let entry = u64_at(b, 48);
    let nb_lists = u64_at(b, 56);
    let nb_links = u64_at(b, 64);
    // Section bounds in u128 so that no header value can overflow them.
    let mut at = FIXED_HEADER as u128;
    let mut section = |count: u64, width: u128| {
        let start = at;
        at = (at + count as u128 * width).div_ceil(8) * 8;
        (start, start + count as u128 * width)
    };
    let layer_len = section(nb_layer, 8);
    let origin_ids = section(n, 8);
    let list_len = section(nb_lists, 4);
    let neighbours = section(nb_links, 4);
    let distances = section(nb_links, 4);
    let vectors = section(n.saturating_mul(dim as u64), 4);
    let trailer = at;
    if trailer + 8 != b.len() as u128 {
        return Err(bad(format!(
            "{} bytes, its header describes {}",
            b.len(),
            trailer + 8
        )));
    }
    // Every bound is now within the file, so it fits a usize; misaligned
    // sections (impossible in a mapping) would be refused by the casts.
    let bytes = |(s, e): (u128, u128)| &b[s as usize..e as usize];
    let view = FlatGraphView {
        max_nb_connection: max_nb_connection as usize,
        ef_construction: ef_construction as usize,
        max_layer: max_layer as usize,
        level_scale,
        layer_len: bytemuck::try_cast_slice(bytes(layer_len)).map_err(|e| bad(e.to_string()))?,
        origin_ids: bytemuck::try_cast_slice(bytes(origin_ids)).map_err(|e| bad(e.to_string()))?,
        list_len: bytemuck::try_cast_slice(bytes(list_len)).map_err(|e| bad(e.to_string()))?,
        neighbours: bytemuck::try_cast_slice(bytes(neighbours)).map_err(|e| bad(e.to_string()))?,
        distances: bytemuck::try_cast_slice(bytes(distances)).map_err(|e| bad(e.to_string()))?,
        entry,
        dim,
        vectors: bytemuck::try_cast_slice(bytes(vectors)).map_err(|e| bad(e.to_string()))?,
    };
    let body = &b[..trailer as usize];
    let stored_crc = u32_at(b, trailer as usize);
    // The trailer's last four bytes pad it to eight and are written as
    // zeros; the checksum does not cover them, so they are checked here.
    if u32_at(b, trailer as usize + 4) != 0 {
        return Err(bad("damaged trailer".to_string()));
    }
    // The checksum runs beside the build: on two cores it costs no time.
    let (crc, built) = rayon::join(
        || crc32fast::hash(body),
        || Hnsw::from_flat(view, DotDistance),
    );
    if crc != stored_crc {
        return Err(bad(format!(
            "checksum {crc:08x}, the file says {stored_crc:08x}"
        )));
    }
    built.map_err(bad)
}
