using System;
using System.Collections.Generic;
using System.Linq;

namespace LargeFolios.Folios.Fuzzing;

/// <summary>
/// Shrinks a scenario that shows a disagreement to a short one that still shows it (Zeller's ddmin
/// over lines): drops chunks of lines, halving the chunk size down to one line, keeping every drop
/// after which <c>stillFails</c> holds, until no single line can go. Comment lines go first.
/// </summary>
internal static class ScenarioReducer
{
    /// <summary>The reduced scenario; <paramref name="budget"/> bounds the checks (each a run on both sides).</summary>
    public static IReadOnlyList<string> Reduce(IReadOnlyList<string> lines, Func<IReadOnlyList<string>, bool> stillFails, int budget = 400)
    {
        ArgumentNullException.ThrowIfNull(lines);
        ArgumentNullException.ThrowIfNull(stillFails);
        var current = lines.Where(line => !line.TrimStart().StartsWith('#')).ToList();
        if (!stillFails(current))
            current = lines.ToList();
        int checks = 0;
        for (int chunk = Math.Max(1, current.Count / 2); chunk >= 1 && checks < budget; chunk /= 2)
        {
            bool removed;
            do
            {
                removed = false;
                for (int start = 0; start < current.Count && checks < budget;)
                {
                    var candidate = new List<string>(current.Count);
                    candidate.AddRange(current.Take(start));
                    candidate.AddRange(current.Skip(start + chunk));
                    checks++;
                    if (candidate.Count > 0 && stillFails(candidate))
                    {
                        current = candidate;
                        removed = true;
                    }
                    else
                    {
                        start += chunk;
                    }
                }
            }
            while (removed && chunk == 1 && checks < budget);
        }

        return current;
    }
}
