using System;
using System.Collections.Generic;
using System.IO;

namespace LargeFolios.Package.Tests;

/// <summary>One ```csharp block of a markdown file: where it is and its text.</summary>
public sealed record MarkdownExample(string File, int Line, string Code)
{
    /// <summary>The repository-relative path and the line of the block's first code line, as a reader finds it.</summary>
    public override string ToString() => $"{File}:{Line}";
}

/// <summary>
/// The ```csharp blocks of the READMEs, read from the files themselves at test time, so an
/// example cannot drift from what the test compiles. Every such block is a whole program;
/// a snippet that is not one is fenced as something else (```text).
/// </summary>
public static class MarkdownExamples
{
    /// <summary>The repository README and the package READMEs (what nuget.org shows of each package).</summary>
    public static readonly string[] Files =
    [
        "README.md",
        "src/BuddyAllocator/README.md",
        "src/PageTables/README.md",
        "src/FaultPath/README.md",
    ];

    /// <summary>The repository's root: the folder above the test's output that holds Allocator.sln.</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>Every ```csharp block of <paramref name="relativePath"/>, in order.</summary>
    public static List<MarkdownExample> Read(string relativePath)
    {
        string[] lines = File.ReadAllLines(Path.Combine(RepositoryRoot, relativePath));
        var examples = new List<MarkdownExample>();
        for (int i = 0; i < lines.Length; i++)
        {
            if (lines[i].TrimEnd() != "```csharp")
                continue;
            int first = i + 1;
            int end = first;
            while (end < lines.Length && lines[end].TrimEnd() != "```")
                end++;
            if (end == lines.Length)
                throw new InvalidDataException($"{relativePath}:{i + 1}: a ```csharp block with no closing fence.");
            examples.Add(new MarkdownExample(relativePath, first + 1, string.Join('\n', lines[first..end])));
            i = end;
        }

        return examples;
    }

    private static string FindRoot()
    {
        for (DirectoryInfo? dir = new(AppContext.BaseDirectory); dir != null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Allocator.sln")))
                return dir.FullName;
        }

        throw new DirectoryNotFoundException($"No Allocator.sln above {AppContext.BaseDirectory}: the test runs from inside the repository.");
    }
}
