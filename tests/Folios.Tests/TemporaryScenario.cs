using System;
using System.IO;

namespace LargeFolios.Folios.Tests;

/// <summary>A scenario file in the temporary folder, deleted when disposed.</summary>
internal sealed class TemporaryScenario : IDisposable
{
    public TemporaryScenario(string text)
    {
        Path = System.IO.Path.GetTempFileName();
        File.WriteAllText(Path, text);
    }

    /// <summary>The file's path.</summary>
    public string Path { get; }

    public void Dispose() => File.Delete(Path);
}
