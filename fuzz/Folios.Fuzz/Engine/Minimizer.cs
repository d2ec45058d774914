using System;
using System.Collections.Generic;
using System.Diagnostics;

namespace LargeFolios.Fuzz.Engine;

/// <summary>
/// Shrinks a finding's input while it still gives the same finding (the same id and frame):
/// whole lines first for text, then chunks of bytes from half the input down to one byte.
/// Bounded by a number of tries and a time; hangs and memory findings are not minimised (each
/// try would cost the whole bound, and leave a worker behind).
/// </summary>
public static class Minimizer
{
    /// <summary>
    /// The smallest input found that still gives <paramref name="finding"/>; a candidate that
    /// hung or broke the memory bound instead is a finding of its own, in <paramref name="other"/>,
    /// and ends the minimisation (its worker is left behind).
    /// </summary>
    public static Finding Minimize(Executor executor, Finding finding, bool text, out Finding? other, int maxTries = 4000, TimeSpan? maxTime = null)
    {
        other = null;
        Finding? bounded = null;
        ArgumentNullException.ThrowIfNull(executor);
        ArgumentNullException.ThrowIfNull(finding);
        if (finding.Id is "hang" or "memory")
            return finding;
        var clock = Stopwatch.StartNew();
        TimeSpan limit = maxTime ?? TimeSpan.FromSeconds(30);
        int tries = 0;
        Finding best = finding;

        bool Try(byte[] candidate)
        {
            if (tries++ >= maxTries || clock.Elapsed > limit || bounded is not null)
                return false;
            (_, Finding? again) = executor.Execute(candidate);
            if (again is { Id: "hang" or "memory" })
            {
                bounded = again;
                return false;
            }

            if (again is null || again.Key != finding.Key)
                return false;
            best = again;
            return true;
        }

        bool Budget() => tries < maxTries && clock.Elapsed <= limit && bounded is null;

        if (text)
        {
            // Drop lines, last to first, until no line can go.
            for (bool changed = true; changed && Budget();)
            {
                changed = false;
                List<(int Start, int Length)> lines = Lines(best.Input);
                for (int i = lines.Count - 1; i >= 0 && Budget(); i--)
                {
                    byte[] input = best.Input;
                    (int start, int length) = lines[i];
                    if (start + length > input.Length)
                        continue;
                    if (Try(Remove(input, start, length)))
                    {
                        changed = true;
                        lines = Lines(best.Input);
                        i = Math.Min(i, lines.Count);
                    }
                }
            }
        }

        for (int chunk = Math.Max(1, best.Input.Length / 2); chunk >= 1 && Budget(); chunk /= 2)
        {
            for (int start = best.Input.Length - chunk; start >= 0 && Budget(); start -= chunk)
            {
                if (start + chunk <= best.Input.Length)
                    Try(Remove(best.Input, start, chunk));
            }

            if (chunk == 1)
                break;
        }

        other = bounded;
        return best;
    }

    private static byte[] Remove(byte[] input, int start, int length)
    {
        byte[] result = new byte[input.Length - length];
        input.AsSpan(0, start).CopyTo(result);
        input.AsSpan(start + length).CopyTo(result.AsSpan(start));
        return result;
    }

    private static List<(int Start, int Length)> Lines(byte[] input)
    {
        var lines = new List<(int, int)>();
        int start = 0;
        for (int i = 0; i < input.Length; i++)
        {
            if (input[i] == '\n')
            {
                lines.Add((start, i + 1 - start));
                start = i + 1;
            }
        }

        if (start < input.Length)
            lines.Add((start, input.Length - start));
        return lines;
    }
}
