//! The upstream demo's ten products, for running without a product catalog service.

/// Id and name of each product in the upstream demo's catalog, in its order.
pub const EMBEDDED_PRODUCTS: [(&str, &str); 10] = [
    ("OLJCESPC7Z", "National Park Foundation Explorascope"),
    ("66VCHSJNUP", "Starsense Explorer Refractor Telescope"),
    ("1YMWWN1N4O", "Eclipsmart Travel Refractor Telescope"),
    ("L9ECAV7KIM", "Lens Cleaning Kit"),
    ("2ZYFJ3GM2N", "Roof Binoculars"),
    ("0PUK6V6EV0", "Solar System Color Imager"),
    ("LS4PSXUNUM", "Red Flashlight"),
    ("9SIQT8TOJO", "Optical Tube Assembly"),
    ("6E92ZMYYFZ", "Solar Filter"),
    ("HQTGWGPNH4", "The Comet Book"),
];

/// The ids of [`EMBEDDED_PRODUCTS`].
pub fn embedded_product_ids() -> impl ExactSizeIterator<Item = &'static str> {
    EMBEDDED_PRODUCTS.iter().map(|(id, _)| *id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_distinct_upstream_style_ids() {
        let mut ids: Vec<_> = embedded_product_ids().collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 10);
        assert!(
            ids.iter()
                .all(|id| id.len() == 10 && id.chars().all(|c| c.is_ascii_alphanumeric()))
        );
    }
}
