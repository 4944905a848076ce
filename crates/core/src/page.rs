use serde::{Deserialize, Serialize};

use crate::{Code, ErrorCode};

/// Largest page a list endpoint returns.
pub const MAX_PAGE_SIZE: u64 = 100;
pub const DEFAULT_PAGE_SIZE: u64 = 20;

/// A validated page request: `page` starts at 1, `page_size` is 1..=100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u64,
    page_size: u64,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PageError {
    #[error("page must be 1 or more")]
    Page,
    #[error("page_size must be between 1 and 100")]
    PageSize,
}

impl ErrorCode for PageError {
    fn code(&self) -> Code {
        Code::InvalidQuery
    }

    fn param(&self) -> Option<&'static str> {
        match self {
            PageError::Page => Some("page"),
            PageError::PageSize => Some("page_size"),
        }
    }
}

impl PageRequest {
    pub fn new(page: Option<u64>, page_size: Option<u64>) -> Result<Self, PageError> {
        let page = page.unwrap_or(1);
        let page_size = page_size.unwrap_or(DEFAULT_PAGE_SIZE);
        if page == 0 || page > u64::from(u32::MAX) {
            return Err(PageError::Page);
        }
        if page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(PageError::PageSize);
        }
        Ok(Self { page, page_size })
    }

    pub fn page(&self) -> u64 {
        self.page
    }

    pub fn page_size(&self) -> u64 {
        self.page_size
    }

    pub fn offset(&self) -> u64 {
        (self.page - 1) * self.page_size
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 1,
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

/// One page of a list, with the total count of matching items.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, total: u64, request: PageRequest) -> Self {
        Self {
            items,
            total,
            page: request.page,
            page_size: request.page_size,
        }
    }

    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            total: self.total,
            page: self.page,
            page_size: self.page_size,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        let page = PageRequest::new(None, None).unwrap();
        assert_eq!((page.page(), page.page_size(), page.offset()), (1, 20, 0));
        assert_eq!(PageRequest::new(Some(3), Some(100)).unwrap().offset(), 200);
        assert_eq!(PageRequest::new(Some(0), None), Err(PageError::Page));
        assert_eq!(PageRequest::new(None, Some(0)), Err(PageError::PageSize));
        assert_eq!(PageRequest::new(None, Some(101)), Err(PageError::PageSize));
    }
}
