//! SQLite store + in-memory catalog + dense graph (implementation pending).
#![allow(unused_variables)]

use std::path::Path;

use super::*;
use crate::corpus::Document;

pub(super) struct Inner {
    model_id: String,
    dim: usize,
}

impl Inner {
    pub fn open(data_dir: &Path, model_id: &str, dim: usize) -> Result<Inner> {
        todo!()
    }
    pub fn add_document(&self, doc: &Document, vectors: &[Vec<f32>]) -> Result<AddOutcome> {
        todo!()
    }
    pub fn contains_document(&self, doc_id: &str) -> Result<bool> {
        todo!()
    }
    pub fn delete_document(&self, doc_id: &str) -> Result<()> {
        todo!()
    }
    pub fn flush(&self) -> Result<()> {
        todo!()
    }
    pub fn documents(&self) -> Result<Vec<DocumentSummary>> {
        todo!()
    }
    pub fn document(&self, doc_id: &str) -> Result<DocumentRecord> {
        todo!()
    }
    pub fn passage(&self, passage_id: &str) -> Result<StoredPassage> {
        todo!()
    }
    pub fn passages_by_key(&self, keys: &[PassageKey]) -> Result<Vec<StoredPassage>> {
        todo!()
    }
    pub fn passage_vector(&self, key: PassageKey) -> Result<Vec<f32>> {
        todo!()
    }
    pub fn facets(&self, filter: &Filter) -> Result<Facets> {
        todo!()
    }
    pub fn for_each_passage(
        &self,
        filter: &Filter,
        f: &mut dyn FnMut(StoredPassage) -> Result<()>,
    ) -> Result<()> {
        todo!()
    }
    pub fn stats(&self) -> Result<Stats> {
        todo!()
    }
    pub fn model_id(&self) -> &str {
        &self.model_id
    }
    pub fn dim(&self) -> usize {
        self.dim
    }
    pub fn dense_search(
        &self,
        query: &[f32],
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<ScoredPassage>> {
        todo!()
    }
    pub fn lexical_search(
        &self,
        query: &str,
        k: usize,
        filter: &Filter,
    ) -> Result<Vec<ScoredPassage>> {
        todo!()
    }
    pub fn document_keys(&self, doc_id: &str) -> Result<Vec<PassageKey>> {
        todo!()
    }
}
