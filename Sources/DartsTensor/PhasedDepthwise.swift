/// Depthwise convolution at stride 2 on the four phases of the padded plane.
///
/// The padded plane x' (Hp, Wp) is split into its phases P_ab[u, v] = x'[2u + a, 2v + b]
/// (a, b in {0, 1}), each (Hq, Wq) = (ceil(Hp / 2), ceil(Wp / 2)), stored one after another. The
/// tap (p, q) at dilation d reads phase ((p d) mod 2, (q d) mod 2) at (i + p d / 2, j + q d / 2)
/// for output (i, j), so with the output at row pitch Wq every tap is again one fixed offset and
/// the stride-1 kernels (``correlate(_:_:_:taps:_:_:)``, ``tapDots``) apply unchanged. The input
/// gradient is formed phase by phase, each from its own taps, and scattered back.
struct PhasedDepthwise {
    let g: ConvGeometry
    let hq, wq, length: Int
    let reluInput: Bool
    /// The four phases, 4 Hq Wq floats (the positions outside the image stay zero).
    let phases: UnsafeMutablePointer<Float>
    /// Pitch-Wq output plane; the output gradient after a zero margin; the four phases'
    /// gradients (a phase without taps keeps its zeros).
    let pitched: UnsafeMutablePointer<Float>
    let gradient: UnsafeMutablePointer<Float>
    let phaseGradients: UnsafeMutablePointer<Float>
    /// One input row of the gradient, interleaved from its two phase rows (W + 16 floats).
    let mergedRow: UnsafeMutablePointer<Float>
    /// Max pooling: per output at pitch Wq, the offset in `phases` of its window's first maximum.
    let winners: UnsafeMutablePointer<Int32>
    let margin: Int
    /// Per tap: its offset in `phases`. Per phase: its taps' indices and (negated) offsets within
    /// the phase, and scratch for their weights.
    let offsets: UnsafeMutablePointer<Int>
    let phaseTaps: [[Int]]
    let phaseOffsets: UnsafeMutablePointer<Int>
    let phaseWeights: UnsafeMutablePointer<Float>

    /// Whether a pooling window geometry runs on the phases: stride 2, no dilation, and every
    /// window inside the padded plane (a window larger than the padded plane, which PyTorch
    /// rejects, would read taps that wrap into the next phase).
    static func appliesToPooling(_ g: ConvGeometry) -> Bool {
        g.stride == 2 && g.dilation == 1 && g.h + 2 * g.padding >= g.kh && g.w + 2 * g.padding >= g.kw
    }

    /// - Parameter border: the value of the padding (0 for convolutions and average pooling,
    ///   -infinity for max pooling).
    init(_ g: ConvGeometry, reluInput: Bool, border: Float = 0) {
        self.g = g
        self.reluInput = reluInput
        let hp = g.h + 2 * g.padding, wp = g.w + 2 * g.padding
        hq = (hp + 1) / 2
        wq = (wp + 1) / 2
        length = (g.outH - 1) * wq + g.outW
        let taps = g.kh * g.kw
        phases = .allocate(capacity: 4 * hq * wq)
        phases.initialize(repeating: border, count: 4 * hq * wq)
        pitched = .allocate(capacity: hq * wq)
        offsets = .allocate(capacity: taps)
        phaseOffsets = .allocate(capacity: taps)
        phaseWeights = .allocate(capacity: taps)
        var byPhase: [[Int]] = [[], [], [], []]
        var maxLocal = 0
        for p in 0..<g.kh {
            for q in 0..<g.kw {
                let (rowShift, colShift) = (p * g.dilation, q * g.dilation)
                let phase = (rowShift % 2) * 2 + colShift % 2
                let local = (rowShift / 2) * wq + colShift / 2
                offsets[p * g.kw + q] = phase * hq * wq + local
                byPhase[phase].append(p * g.kw + q)
                maxLocal = max(maxLocal, local)
            }
        }
        phaseTaps = byPhase
        var k = 0
        for phase in 0..<4 {
            for t in byPhase[phase] { phaseOffsets[k] = -(offsets[t] - phase * hq * wq); k += 1 }
        }
        margin = maxLocal
        gradient = .allocate(capacity: margin + hq * wq)
        gradient.initialize(repeating: 0, count: margin + hq * wq)
        phaseGradients = .allocate(capacity: 4 * hq * wq + 16)
        phaseGradients.initialize(repeating: 0, count: 4 * hq * wq + 16)
        mergedRow = .allocate(capacity: g.w + 16)
        winners = .allocate(capacity: length)
    }

    func deallocate() {
        for p in [phases, pitched, gradient, phaseGradients, phaseWeights, mergedRow] { p.deallocate() }
        offsets.deallocate()
        phaseOffsets.deallocate()
        winners.deallocate()
    }

    /// Where input row y lives in the phases: x[y, c] is x'[y + pad, c + pad], in phase row
    /// (y + pad) / 2 of the phases a = (y + pad) mod 2. Even columns c are in phase column
    /// b = pad mod 2 at (c + pad) / 2 = c / 2 + pad / 2, odd ones in the other at c / 2 + (pad + 1) / 2.
    /// Returns the offsets in the phases of column 0 of the even and of the odd columns.
    @inline(__always)
    private func phaseRows(_ y: Int) -> (evens: Int, odds: Int) {
        let pad = g.padding, plane = hq * wq
        let py = y + pad
        let rowBase = (py % 2) * 2 * plane + (py / 2) * wq
        return (rowBase + (pad % 2) * plane + pad / 2, rowBase + (1 - pad % 2) * plane + (pad + 1) / 2)
    }

    /// Writes x (or relu(x)) into the phases (``phaseRows(_:)``); 16, 8 and 4 columns at a time
    /// are split by lane shuffles.
    private func split(_ x: UnsafePointer<Float>) {
        for y in 0..<g.h {
            let rows = phaseRows(y)
            let evens = phases + rows.evens, odds = phases + rows.odds
            let src = x + y * g.w
            var c = splitColumns(src, evens, odds, from: 0, Vector16.self)
            c = splitColumns(src, evens, odds, from: c, Vector8.self)
            c = splitColumns(src, evens, odds, from: c, Vector4.self)
            while c < g.w {
                let v = reluInput ? max(src[c], 0) : src[c]
                if c % 2 == 0 { evens[c / 2] = v } else { odds[c / 2] = v }
                c += 1
            }
        }
    }

    /// Splits columns c ..< c + lanes of a row (or their ReLU) into `evens` and `odds` at c / 2,
    /// one vector at a time from column `first` while a whole vector fits; returns the next column.
    @inline(__always)
    private func splitColumns<V: FloatVector>(_ src: UnsafePointer<Float>, _ evens: UnsafeMutablePointer<Float>,
                                              _ odds: UnsafeMutablePointer<Float>, from first: Int, _: V.Type) -> Int {
        var c = first
        while c + V.scalarCount <= g.w {
            let v = reluInput ? V(loading: src + c).rectified : V(loading: src + c)
            store(v.evenLanes, evens + c / 2)
            store(v.oddLanes, odds + c / 2)
            c += V.scalarCount
        }
        return c
    }

    func forward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        split(x)
        correlate(phases, offsets, w, taps: g.kh * g.kw, pitched, length)
        unpitch(pitched, pitch: wq, out, rows: g.outH, width: g.outW)
    }

    func backward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ dy: UnsafePointer<Float>,
                  _ dx: UnsafeMutablePointer<Float>?, _ dw: UnsafeMutablePointer<Float>?) {
        let d = gradient + margin
        pitch(dy, rows: g.outH, width: g.outW, into: d, pitch: wq)
        if let dw {
            split(x)
            tapDots(d, phases, offsets, taps: g.kh * g.kw, length, dw)
        }
        guard let dx else { return }
        let plane = hq * wq
        var first = 0
        for phase in 0..<4 {
            let taps = phaseTaps[phase]
            defer { first += taps.count }
            if taps.isEmpty { continue }
            for (k, t) in taps.enumerated() { phaseWeights[first + k] = w[t] }
            // dP[n] = sum over this phase's taps of w[t] d[n - local_t], n over the phase plane.
            correlate(d, phaseOffsets + first, phaseWeights + first, taps: taps.count, phaseGradients + phase * plane, plane)
        }
        merge(phaseGradients, x, into: dx)
    }

    /// Max pooling's window maxima for one plane (made with `border: -.infinity`).
    func maxValues(_ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        split(x)
        windowMaxima(phases, offsets, taps: g.kh * g.kw, pitched, length)
        unpitch(pitched, pitch: wq, out, rows: g.outH, width: g.outW)
    }

    /// dx += max pooling's input gradient of dy for one plane (made with `border: -.infinity`):
    /// each output's gradient goes to its window's first maximum in window order (PyTorch's
    /// choice), found again from x, through the phases' gradients.
    func maxBackward(_ x: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>) {
        split(x)
        routeToFirstMaxima(dy, rows: g.outH, width: g.outW, of: phases, offsets, taps: g.kh * g.kw, pitch: wq,
                           length, maxima: pitched, winners, into: phaseGradients, count: 4 * hq * wq)
        merge(phaseGradients, x, into: dx)
    }

    /// dx += the input-plane gradient whose phases are `p` (the inverse of ``split(_:)``, masked
    /// by x > 0 for relu(x)): row y's even columns come from one phase row, its odd columns from
    /// the other.
    private func merge(_ p: UnsafePointer<Float>, _ x: UnsafePointer<Float>, into dx: UnsafeMutablePointer<Float>) {
        for y in 0..<g.h {
            let rows = phaseRows(y)
            let evens = p + rows.evens, odds = p + rows.odds
            // Interleaved 16 at a time into a row of scratch (reading up to 8 floats past the
            // phase rows, inside the slack), then added with the ReLU mask.
            var c = 0
            while c < g.w {
                let e = Vector8(loading: evens + c / 2), o = Vector8(loading: odds + c / 2)
                let v = Vector16(e[0], o[0], e[1], o[1], e[2], o[2], e[3], o[3],
                                      e[4], o[4], e[5], o[5], e[6], o[6], e[7], o[7])
                store(v, mergedRow + c)
                c += 16
            }
            if reluInput {
                maskedAdd(mergedRow, where: x + y * g.w, dx + y * g.w, g.w)
            } else {
                addInto(mergedRow, dx + y * g.w, g.w)
            }
        }
    }
}
