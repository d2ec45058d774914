using System.Collections;
using System.Collections.Generic;

namespace LargeFolios.Folios.TraceAnalysis;

/// <summary>
/// Counts per key, kept in key order: folios per order, refusals per reason. A key the trace
/// never produced reads as zero, so a report can ask for any order without checking first.
/// </summary>
/// <typeparam name="TKey">What is counted by: an order, a kind, a pair of orders.</typeparam>
internal sealed class Tally<TKey> : IEnumerable<KeyValuePair<TKey, long>>
    where TKey : notnull
{
    // Sorted and sparse: a corrupt payload with order 2^31 must cost one entry, not an array.
    private readonly SortedDictionary<TKey, long> _counts = new();

    /// <summary>The sum over every key.</summary>
    public long Total { get; private set; }

    /// <summary>The keys seen, in order.</summary>
    public IEnumerable<TKey> Keys => _counts.Keys;

    /// <summary>How many keys have a count.</summary>
    public int Count => _counts.Count;

    /// <summary>The count for <paramref name="key"/>; zero when it never occurred.</summary>
    public long this[TKey key] => _counts.GetValueOrDefault(key);

    /// <summary>Adds <paramref name="amount"/> to <paramref name="key"/>'s count.</summary>
    public void Add(TKey key, long amount = 1)
    {
        _counts[key] = _counts.GetValueOrDefault(key) + amount;
        Total += amount;
    }

    /// <inheritdoc/>
    public IEnumerator<KeyValuePair<TKey, long>> GetEnumerator() => _counts.GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
