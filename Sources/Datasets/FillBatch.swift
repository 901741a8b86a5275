import DartsTensor

/// Gathers the images and labels at `indices` into caller-owned (N, C, H, W) and (N) buffers,
/// N = `indices.count`, applying `augmentation` to each image independently.
///
/// For each image, in order, the generator is drawn only for the transforms that are on:
/// crop top = `nextInt(below: 2p + 1)`, crop left = `nextInt(below: 2p + 1)`; flip when
/// `nextUniform() < 0.5`; cutout centre y = `nextInt(below: H)`, x = `nextInt(below: W)`.
/// With `.none` it draws nothing and copies the pixels exactly.
///
/// Output pixel (c, y, x), with x' = W - 1 - x when flipped and x otherwise, is the input pixel
/// (c, y + top - p, x' + left - p), or `-mean[c] / std[c]` (a black pixel after normalization,
/// as torchvision pads the raw image before `Normalize`) when that lies outside the image.
/// Cutout then sets rows [cy - L/2, cy + L/2) and columns [cx - L/2, cx + L/2), clipped to the
/// image, to 0 in every channel, as official DARTS `utils.Cutout` does on the normalized tensor.
///
/// - Parameters:
///   - images: room for `indices.count * C * H * W` floats.
///   - labels: room for `indices.count` labels.
///   - rng: the generator of this rank's augmentation stream.
public func fillBatch(
    _ dataset: ImageDataset, indices: [Int],
    images: UnsafeMutablePointer<Float>, labels: UnsafeMutablePointer<Int32>,
    augmentation: Augmentation, rng: inout RandomGenerator
) {
    let channels = dataset.channels, height = dataset.height, width = dataset.width
    let plane = height * width
    let imageSize = channels * plane
    let padding = augmentation.randomCropPadding
    let half = augmentation.cutoutLength / 2
    let padValues = (0..<channels).map { dataset.normalization.zeroValue(channel: $0) }
    dataset.images.withUnsafeBufferPointer { source in
        for (row, index) in indices.enumerated() {
            precondition(index >= 0 && index < dataset.count, "index \(index) out of range 0..<\(dataset.count)")
            labels[row] = dataset.labels[index]
            let input = source.baseAddress! + index * imageSize
            let output = images + row * imageSize
            let top = padding > 0 ? rng.nextInt(below: 2 * padding + 1) : padding
            let left = padding > 0 ? rng.nextInt(below: 2 * padding + 1) : padding
            let flip = augmentation.horizontalFlip && rng.nextUniform() < 0.5
            if top == padding && left == padding && !flip {
                output.update(from: input, count: imageSize)
            } else {
                // out[c, y, x] = in[c, y + dy, x' + dx] or the pad value, x' = flip ? W-1-x : x
                let dy = top - padding, dx = left - padding
                for c in 0..<channels {
                    let inPlane = input + c * plane
                    let outPlane = output + c * plane
                    for y in 0..<height {
                        let sourceY = y + dy
                        let outRow = outPlane + y * width
                        guard sourceY >= 0 && sourceY < height else {
                            outRow.update(repeating: padValues[c], count: width)
                            continue
                        }
                        let inRow = inPlane + sourceY * width
                        for x in 0..<width {
                            let sourceX = (flip ? width - 1 - x : x) + dx
                            outRow[x] = sourceX >= 0 && sourceX < width ? inRow[sourceX] : padValues[c]
                        }
                    }
                }
            }
            if augmentation.cutoutLength > 0 {
                let centreY = rng.nextInt(below: height), centreX = rng.nextInt(below: width)
                let y0 = max(centreY - half, 0), y1 = min(centreY + half, height)
                let x0 = max(centreX - half, 0), x1 = min(centreX + half, width)
                if x0 < x1 {
                    for c in 0..<channels {
                        for y in y0..<y1 {
                            (output + c * plane + y * width + x0).update(repeating: 0, count: x1 - x0)
                        }
                    }
                }
            }
        }
    }
}
