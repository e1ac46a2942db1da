//! Tar entry headers for what `demo` hands the engine as archives: build contexts, imported
//! root filesystems, and files copied into containers. Modification time 0 unless the caller
//! sets one, checksum set.

/// A regular file of `size` bytes with `mode`, owned by `owner` (uid, gid).
pub fn file_header(size: usize, mode: u32, owner: (u64, u64)) -> tar::Header {
    header(tar::EntryType::Regular, size, mode, owner)
}

/// A directory with `mode`, owned by `owner` (uid, gid).
pub fn dir_header(mode: u32, owner: (u64, u64)) -> tar::Header {
    header(tar::EntryType::Directory, 0, mode, owner)
}

fn header(kind: tar::EntryType, size: usize, mode: u32, (uid, gid): (u64, u64)) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(kind);
    header.set_size(size as u64);
    header.set_mode(mode);
    header.set_uid(uid);
    header.set_gid(gid);
    header.set_mtime(0);
    header.set_cksum();
    header
}
