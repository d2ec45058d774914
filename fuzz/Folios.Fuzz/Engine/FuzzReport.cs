using System;
using System.Collections.Generic;

namespace LargeFolios.Fuzz.Engine;

/// <summary>What a run of the in-process engine did.</summary>
/// <param name="Target">The target.</param>
/// <param name="Seeds">Corpus inputs run.</param>
/// <param name="Executions">Inputs run in all, corpus and mutants (minimisation not counted).</param>
/// <param name="Outcomes">Distinct outcome keys seen.</param>
/// <param name="Elapsed">How long it took.</param>
/// <param name="Findings">Each distinct finding, once.</param>
public sealed record FuzzReport(string Target, int Seeds, long Executions, int Outcomes, TimeSpan Elapsed, IReadOnlyList<Finding> Findings);
