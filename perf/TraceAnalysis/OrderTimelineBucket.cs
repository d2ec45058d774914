namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>One span of a trace's time and the folios allocated in it, per order.</summary>
/// <param name="StartMs">Where the span begins, in milliseconds from the session's start.</param>
/// <param name="EndMs">Where it ends.</param>
/// <param name="ByOrder">Folios allocated in it, per order.</param>
internal sealed record OrderTimelineBucket(double StartMs, double EndMs, Tally<int> ByOrder);
