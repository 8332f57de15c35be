/**
 * Collects a byte stream into one buffer under a size limit — a response body, a capture on stdin —
 * failing with `tooLarge()` at the first chunk past `maxBytes`, before buffering it. Leaving the loop
 * early destroys the stream (and so stops reading it). Transport-free: any async iterable of chunks.
 * @internal
 */
export async function readAll(
  body: AsyncIterable<Uint8Array | string>,
  maxBytes: number,
  tooLarge: () => Error,
): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const bytes =
      typeof chunk === "string"
        ? Buffer.from(chunk)
        : Buffer.isBuffer(chunk)
          ? chunk
          : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    size += bytes.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(bytes);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
}
