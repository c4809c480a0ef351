import sharp, { type Metadata } from 'sharp';

// Thumbnails of JPEG, PNG, WebP (and GIF, as a still) images with libvips through sharp.
// Uploaded images are hostile input: the pixel count is capped before decoding (a 100 kB
// PNG can claim 50,000 x 50,000 pixels), and the output is re-encoded without metadata
// (EXIF positions of phones stay out of thumbnails).

// Decoded images are not worth caching in a server that thumbnails each media once.
sharp.cache(false);

export type ThumbnailMethod = 'crop' | 'scale';

/** The sizes the spec says servers SHOULD produce; requests snap up to one of them. */
const STANDARD_SIZES: Array<{ width: number; height: number; method: ThumbnailMethod }> = [
  { width: 32, height: 32, method: 'crop' },
  { width: 96, height: 96, method: 'crop' },
  { width: 320, height: 240, method: 'scale' },
  { width: 640, height: 480, method: 'scale' },
  { width: 800, height: 600, method: 'scale' },
];

/** The largest side a thumbnail is made at (bigger asks get this; clients scale down). */
export const MAX_THUMBNAIL_SIDE = 1600;
/** Sources over this many pixels are refused (413) rather than decoded. */
export const MAX_SOURCE_PIXELS = 40_000_000;

const OUTPUT: Record<string, 'jpeg' | 'png' | 'webp'> = { jpeg: 'jpeg', png: 'png', webp: 'webp', gif: 'png' };
const MIME: Record<'jpeg' | 'png' | 'webp', string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/** Content types worth trying; the decoder still checks what the bytes really are. */
export function mayThumbnail(contentType: string | null): boolean {
  return contentType !== null && /^image\/(jpeg|png|webp|gif|apng)\b/i.test(contentType);
}

/**
 * The box to make for a request, so that the cache holds a few sizes per image: the smallest
 * standard size of that method that covers the request, else the request capped at
 * MAX_THUMBNAIL_SIDE.
 */
export function thumbnailBox(width: number, height: number, method: ThumbnailMethod): { width: number; height: number; method: ThumbnailMethod } {
  const fit = STANDARD_SIZES.find((s) => s.method === method && s.width >= width && s.height >= height);
  if (fit) return fit;
  return { width: Math.min(width, MAX_THUMBNAIL_SIDE), height: Math.min(height, MAX_THUMBNAIL_SIDE), method };
}

export class NotAnImageError extends Error {}
export class ImageTooLargeError extends Error {}

export interface Thumbnail {
  data: Buffer;
  contentType: string;
  width: number;
  height: number;
}

/**
 * Scales (fits inside the box) or crops (fills the box, centred) an image, never enlarging
 * it: an image smaller than the box comes back at its own size, re-encoded.
 */
export async function makeThumbnail(source: Buffer, box: { width: number; height: number; method: ThumbnailMethod }): Promise<Thumbnail> {
  const options = { limitInputPixels: MAX_SOURCE_PIXELS, failOn: 'error' as const, pages: 1 };
  let meta: Metadata;
  try {
    meta = await sharp(source, options).metadata();
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) throw new ImageTooLargeError(message);
    throw new NotAnImageError(message);
  }
  const format = meta.format ? OUTPUT[meta.format] : undefined;
  if (!format || !meta.width || !meta.height) throw new NotAnImageError(`cannot thumbnail ${meta.format ?? 'unknown'} content`);
  if (meta.width * meta.height > MAX_SOURCE_PIXELS) throw new ImageTooLargeError(`${meta.width}x${meta.height} pixels`);
  // EXIF orientations 5 to 8 swap width and height once applied.
  const [w, h] = (meta.orientation ?? 1) >= 5 ? [meta.height, meta.width] : [meta.width, meta.height];

  let pipeline = sharp(source, options).rotate();
  if (box.method === 'scale') {
    pipeline = pipeline.resize(box.width, box.height, { fit: 'inside', withoutEnlargement: true });
  } else {
    // Cover the box without enlarging: at scale 1 the crop is what the image has of the box.
    const scale = Math.min(1, Math.max(box.width / w, box.height / h));
    const width = Math.min(box.width, Math.round(w * scale));
    const height = Math.min(box.height, Math.round(h * scale));
    pipeline = pipeline.resize(width, height, { fit: 'cover', position: 'centre' });
  }
  const encoded = format === 'jpeg' ? pipeline.jpeg({ quality: 80 }) : format === 'webp' ? pipeline.webp({ quality: 80 }) : pipeline.png();
  try {
    const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
    return { data, contentType: MIME[format], width: info.width, height: info.height };
  } catch (err) {
    const message = (err as Error).message;
    if (/pixel limit/i.test(message)) throw new ImageTooLargeError(message);
    throw new NotAnImageError(message);
  }
}
