import Foundation

/// A line chart of a few series over epochs, as SVG: axes with round ticks, one polyline and one
/// marker per data point for each series (class "point", with its value as tooltip), and a legend.
struct LineChart {
    struct Series {
        let name: String
        let color: String
        let points: [(x: Double, y: Double)]
    }

    var title: String
    var xLabel: String
    var yLabel: String
    var series: [Series]
    /// The y range; nil fits the data (with round ends).
    var yRange: ClosedRange<Double>?
    /// How a y value reads in a tooltip.
    var format: (Double) -> String = { String(format: "%.4f", $0) }

    func svg(width: Double = 640, height: Double = 400) -> String {
        var doc = SVGDocument(width: width, height: height)
        let left = 64.0, right = 20.0, top = 40.0, bottom = 56.0
        let plotWidth = width - left - right, plotHeight = height - top - bottom

        let xs = series.flatMap { $0.points.map(\.x) }, ys = series.flatMap { $0.points.map(\.y) }.filter(\.isFinite)
        let xLow = xs.min() ?? 0, xHigh = max(xs.max() ?? 1, xLow + 1)
        let yTicks: [Double]
        if let yRange {
            yTicks = niceTicks(yRange.lowerBound, yRange.upperBound)
        } else {
            let low = ys.min() ?? 0, high = ys.max() ?? 1
            yTicks = niceTicks(low, high > low ? high : low + 1)
        }
        let yLow = min(yRange?.lowerBound ?? yTicks.first!, yTicks.first!)
        let yHigh = max(yRange?.upperBound ?? yTicks.last!, yTicks.last!)
        // Halves first, so that a range as wide as -1e308...1e308 does not overflow to infinity.
        func px(_ x: Double) -> Double { left + (x / 2 - xLow / 2) / (xHigh / 2 - xLow / 2) * plotWidth }
        func py(_ y: Double) -> Double { top + (1 - (y / 2 - yLow / 2) / (yHigh / 2 - yLow / 2)) * plotHeight }

        doc.text(title, x: width / 2, y: 24, size: 16, anchor: .middle, bold: true)
        // Grid and y ticks.
        for tick in yTicks {
            doc.line(x1: left, y1: py(tick), x2: left + plotWidth, y2: py(tick), stroke: "#e0e0e0")
            doc.text(tickLabel(tick, step: yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1),
                     x: left - 6, y: py(tick) + 4, size: 11, anchor: .end)
        }
        // x ticks: whole epochs, at most about 10 labels.
        // (Epochs read from a file may be anything: far apart, only the two ends are labelled.)
        let span = (xHigh / 2 - xLow / 2) * 2
        let xTicks = span.isFinite && span <= 1e6
            ? Array(stride(from: xLow.rounded(.up), through: xHigh, by: max(1, (span / 10).rounded(.up)))) : [xLow, xHigh]
        for x in xTicks {
            doc.line(x1: px(x), y1: top + plotHeight, x2: px(x), y2: top + plotHeight + 4, stroke: "#444")
            doc.text(abs(x) < 1e15 ? String(format: "%.0f", x) : String(format: "%.3g", x), x: px(x), y: top + plotHeight + 18,
                     size: 11, anchor: .middle)
        }
        doc.line(x1: left, y1: top + plotHeight, x2: left + plotWidth, y2: top + plotHeight, stroke: "#444")
        doc.line(x1: left, y1: top, x2: left, y2: top + plotHeight, stroke: "#444")
        doc.text(xLabel, x: left + plotWidth / 2, y: height - 14, size: 12, anchor: .middle)
        doc.text(yLabel, x: 16, y: top + plotHeight / 2, size: 12, anchor: .middle, rotated: true)

        for s in series {
            let finite = s.points.filter { $0.y.isFinite }
            doc.polyline(finite.map { (px($0.x), py($0.y)) }, stroke: s.color, className: "series")
            for p in finite {
                doc.circle(x: px(p.x), y: py(p.y), radius: 3, fill: s.color, className: "point",
                           title: "\(s.name), \(xLabel) \(svgNumber(p.x)): \(format(p.y))")
            }
        }
        // Legend, top right inside the plot.
        for (i, s) in series.enumerated() {
            let y = top + 14 + Double(i) * 18
            doc.line(x1: left + plotWidth - 150, y1: y - 4, x2: left + plotWidth - 128, y2: y - 4, stroke: s.color, width: 3)
            doc.text(s.name, x: left + plotWidth - 122, y: y, size: 12)
        }
        return doc.xml
    }
}

/// Round tick values (steps of 1, 2 or 5 times a power of ten) covering [low, high], about `count`
/// of them. Where no such steps exist in floating point (a range wider than the largest double,
/// as -1e308...1e308, or one too narrow for its magnitude) the ticks are the two ends.
func niceTicks(_ low: Double, _ high: Double, count: Int = 5) -> [Double] {
    guard low.isFinite, high.isFinite, high > low else { return [low.isFinite ? low : 0, (low.isFinite ? low : 0) + 1] }
    let raw = (high / 2 - low / 2) / Double(max(1, count)) * 2
    let magnitude = pow(10, (log10(raw)).rounded(.down))
    let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
    let first = (low / step).rounded(.down) * step
    let last = (high / step).rounded(.up) * step
    guard step.isFinite, step > 0, first.isFinite, last.isFinite, (last - first) / step <= Double(4 * max(1, count)),
          first + step > first else { return [low, high] }
    return stride(from: first, through: last + step / 2, by: step).map { ($0 / step).rounded() * step }
}

/// A tick value with as many decimals as its step needs (at most 12); values of a million and
/// more, or steps that are not a positive finite number, in three significant digits ("1e+308").
func tickLabel(_ value: Double, step: Double) -> String {
    guard step.isFinite, step > 0, abs(value) < 1e6 else { return String(format: "%.3g", value) }
    let decimals = min(12, max(0, Int((-log10(step)).rounded(.up))))
    return String(format: "%.\(decimals)f", value)
}
