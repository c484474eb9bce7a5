//! Card rectification: turns the card seen at an angle in a camera frame into the canonical
//! upright 856×540 image that OCR and the face comparison read, and cuts out its photo.

use super::layout::{Field, zone_of};
use super::{CARD_HEIGHT, CARD_WIDTH, DocumentType, Quad};
use crate::error::{Result, VisionError};
use opencv::core::{self, Mat, MatTraitConst, Point2f, Rect, Scalar, Size, Vector};
use opencv::imgproc;

/// Warps the card outlined by `quad` (TL, TR, BR, BL in frame pixels) to the canonical
/// `CARD_WIDTH`×`CARD_HEIGHT` image. Parts of the card outside the frame come out replicated
/// from the frame's border.
pub fn rectify(frame: &Mat, quad: &Quad) -> Result<Mat> {
    rectify_to(frame, quad, Size::new(CARD_WIDTH, CARD_HEIGHT))
}

/// A card image (already upright, any scale) at the canonical `CARD_WIDTH`×`CARD_HEIGHT`.
pub fn to_canonical(card: &Mat) -> Result<Mat> {
    if card.empty() {
        return Err(VisionError::EmptyInput);
    }
    if card.cols() == CARD_WIDTH && card.rows() == CARD_HEIGHT {
        return Ok(card.try_clone()?);
    }
    let mut out = Mat::default();
    imgproc::resize(
        card,
        &mut out,
        Size::new(CARD_WIDTH, CARD_HEIGHT),
        0.0,
        0.0,
        imgproc::INTER_AREA,
    )?;
    Ok(out)
}

/// As [`rectify`], to any output size (the quality gate works on a smaller copy).
pub fn rectify_to(frame: &Mat, quad: &Quad, size: Size) -> Result<Mat> {
    if frame.empty() {
        return Err(VisionError::EmptyInput);
    }
    if quad.corners.iter().flatten().any(|v| !v.is_finite()) {
        return Err(VisionError::Runtime(
            "card outline has non-finite corners".into(),
        ));
    }
    let src: Vector<Point2f> = quad
        .corners
        .iter()
        .map(|p| Point2f::new(p[0], p[1]))
        .collect();
    let (w, h) = (size.width as f32, size.height as f32);
    let dst: Vector<Point2f> = [[0.0, 0.0], [w, 0.0], [w, h], [0.0, h]]
        .iter()
        .map(|p| Point2f::new(p[0], p[1]))
        .collect();
    let m = imgproc::get_perspective_transform(&src, &dst, core::DECOMP_LU)?;
    let mut out = Mat::default();
    imgproc::warp_perspective(
        frame,
        &mut out,
        &m,
        size,
        imgproc::INTER_LINEAR,
        core::BORDER_REPLICATE,
        Scalar::default(),
    )?;
    Ok(out)
}

/// Cuts the holder's photo out of a rectified card (any scale of ID-1), using the document
/// type's layout. An error for document types without a fixed photo zone (MRZ documents).
pub fn photo_region(card: &Mat, doc: DocumentType) -> Result<Mat> {
    if card.empty() {
        return Err(VisionError::EmptyInput);
    }
    let zone = zone_of(doc, Field::Photo)
        .ok_or_else(|| VisionError::Runtime(format!("{doc:?} has no fixed photo zone")))?;
    let (x, y, w, h) = zone.to_pixels(card.cols(), card.rows());
    if w <= 0 || h <= 0 {
        return Err(VisionError::Runtime(format!(
            "the card image ({}×{}) is too small for a photo zone",
            card.cols(),
            card.rows()
        )));
    }
    Ok(Mat::roi(card, Rect::new(x, y, w, h))?.try_clone()?)
}
