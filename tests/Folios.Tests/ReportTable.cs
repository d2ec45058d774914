using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using Xunit;

namespace LargeFolios.Folios.Tests;

/// <summary>A rendered workload report read back: the column headings and each metric row's cells.</summary>
internal sealed class ReportTable
{
    // By label, and by "section/label" for labels that more than one section has (2048kB is a
    // folio size and a fallback size).
    private readonly Dictionary<string, string[]> _rows = [];
    private readonly HashSet<string> _ambiguous = [];

    private ReportTable(string[] columns) => Columns = columns;

    /// <summary>The policy columns, left to right.</summary>
    public string[] Columns { get; }

    /// <summary>Row labels, top to bottom (section headings included).</summary>
    public List<string> Labels { get; } = [];

    public static ReportTable Parse(string output)
    {
        ReportTable? table = null;
        string section = "";
        foreach (string line in output.Split('\n'))
        {
            if (!line.StartsWith('│'))
                continue;
            string[] cells = line.Trim().Trim('│').Split('│').Select(c => c.Trim()).ToArray();
            if (table == null)
            {
                Assert.Equal("metric", cells[0]);
                table = new ReportTable(cells[1..]);
                continue;
            }

            string label = cells[0];
            table.Labels.Add(label);
            if (cells[1..].All(cell => cell.Length == 0))
            {
                section = label.Split(' ')[0];
                continue;
            }

            if (!table._rows.TryAdd(label, cells[1..]))
                table._ambiguous.Add(label);
            table._rows[$"{section}/{label}"] = cells[1..];
        }

        Assert.NotNull(table);
        return table;
    }

    public bool Has(string label) => _rows.ContainsKey(label);

    /// <summary>A cell as text; <paramref name="label"/> may name its section first, by its first word: <c>fallbacks/2048kB</c>.</summary>
    public string Cell(string label, int column = 0)
    {
        Assert.True(_rows.ContainsKey(label), $"no row \"{label}\" in the report; rows: {string.Join(", ", Labels)}");
        Assert.False(_ambiguous.Contains(label), $"more than one section has a row \"{label}\": name the section too");
        return _rows[label][column];
    }

    /// <summary>A count cell (1,024) as a number.</summary>
    public long Count(string label, int column = 0) => long.Parse(Cell(label, column), NumberStyles.AllowThousands, CultureInfo.InvariantCulture);

    /// <summary>A count cell, or 0 when the row was left out for being zero everywhere.</summary>
    public long CountOrZero(string label, int column = 0) => Has(label) ? Count(label, column) : 0;

    /// <summary>Pages in the buddy allocator's free blocks, from the per-order rows.</summary>
    public long FreePages(int column = 0) =>
        Enumerable.Range(0, 11).Sum(order => Count($"free blocks, order {order,2} ({FormatBlock(order)})", column) << order);

    /// <summary>A kB cell (4,096 kB) in 4 KiB pages.</summary>
    public long Pages(string label, int column = 0)
    {
        string cell = Cell(label, column);
        Assert.EndsWith(" kB", cell, StringComparison.Ordinal);
        return long.Parse(cell[..^3], NumberStyles.AllowThousands, CultureInfo.InvariantCulture) / 4;
    }

    private static string FormatBlock(int order) => order switch
    {
        < 8 => $"{4 << order}K",
        _ => $"{(4 << order) >> 10}M",
    };
}
